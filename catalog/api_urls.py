from django.urls import include, path
from rest_framework.routers import SimpleRouter

from catalog import api

router = SimpleRouter(trailing_slash=True)
router.register("", api.WatchedSeriesViewSet, basename="watched-series")

urlpatterns = [path("", include(router.urls))]
