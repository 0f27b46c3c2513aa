from django.urls import include, path
from rest_framework.routers import SimpleRouter

from strm import api

router = SimpleRouter(trailing_slash=True)
router.register("", api.StrmUrlMappingViewSet, basename="strm-mapping")

urlpatterns = [path("", include(router.urls))]
