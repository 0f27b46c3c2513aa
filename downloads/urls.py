from django.urls import include, path
from rest_framework.routers import SimpleRouter

from downloads import api

router = SimpleRouter(trailing_slash=True)
router.register("jobs", api.JobViewSet, basename="job")

urlpatterns = [path("api/", include(router.urls))]
