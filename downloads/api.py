"""`/api/jobs/`: jobs as JSON for automation (DRF; admin users)."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from downloads import ledger
from downloads.models import Job
from downloads.serializers import JobSerializer

log = logging.getLogger(__name__)


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Jobs with their state and failure reason; `?status=failed` filters."""

    serializer_class = JobSerializer

    def get_queryset(self) -> Any:
        qs = Job.objects.all()
        status = self.request.query_params.get("status")
        return qs.filter(status=status) if status else qs

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return Response({"cancelled": ledger.cancel(self.get_object(), "cancelled over the API")})

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        return Response({"queued": ledger.retry(self.get_object())})
