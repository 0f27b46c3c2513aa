"""`/api/watched/`: the series the RSS feed follows, for automation (DRF; admin users).

`GET` lists them with their check state; `POST` with `site`, `slug` (and optionally
`title`, `tvdb_id`) watches one by hand; `POST <id>/check/` queues a check now,
`<id>/stop/` stops watching, `<id>/watch/` watches again.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import watching
from catalog.models import WatchedSeries
from catalog.serializers import WatchedSeriesSerializer, WatchRequestSerializer
from catalog.tasks import enqueue_check


class QueueUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Could not queue the check: Redis is unreachable; try again later."


class WatchedSeriesViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = WatchedSeriesSerializer

    def get_queryset(self) -> Any:
        return WatchedSeries.objects.annotate(
            seen=Count("releases", filter=Q(releases__baseline=False))
        ).order_by("site", "slug")

    def create(self, request: Request) -> Response:
        given = WatchRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            series = watching.watch(**given.validated_data)
        except ValueError as exc:
            raise ValidationError({"slug": [str(exc)]}) from None
        return Response(self._one(series.pk), status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        series = self.get_object()
        try:
            enqueue_check(series.pk)
        except (RedisError, OperationalError):
            raise QueueUnavailable() from None
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        series = self.get_object()
        watching.stop(WatchedSeries.objects.filter(pk=series.pk))
        return Response(self._one(series.pk))

    @action(detail=True, methods=["post"])
    def watch(self, request: Request, pk: str | None = None) -> Response:
        series = self.get_object()
        watching.start(WatchedSeries.objects.filter(pk=series.pk))
        return Response(self._one(series.pk))

    def _one(self, pk: int) -> Any:
        return self.get_serializer(self.get_queryset().get(pk=pk)).data
