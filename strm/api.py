"""`/api/strm/`: mappings with their health, and refresh for automation (DRF; admin users).

`GET /api/strm/` lists mappings (filters as query parameters: site, slug, season,
episode, stale). `POST /api/strm/refresh/` with the same filters (JSON or form; one
of them or `all` is required) queues one refresh task per selected mapping and
answers 202 with their ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from strm.selection import FILTERS, Selection, SelectionError, parse_selection
from strm.serializers import StrmUrlMappingSerializer
from strm.tasks import enqueue_refresh


class StrmUrlMappingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = StrmUrlMappingSerializer

    def get_queryset(self) -> Any:
        if self.action != "list":
            return Selection().mappings()
        # Pagination and other parameters pass by; only the filters are read.
        params = self.request.query_params
        return _selection({k: params[k] for k in FILTERS if k in params}, require=False).mappings()

    @action(detail=False, methods=["post"])
    def refresh(self, request: Request) -> Response:
        selection = _selection(_filters(request.data), require=True)
        ids = list(selection.mappings().values_list("pk", flat=True))
        for mapping_id in ids:
            enqueue_refresh(mapping_id)
        return Response({"queued": len(ids), "mapping_ids": ids}, status=status.HTTP_202_ACCEPTED)


def _filters(data: Any) -> Mapping[str, object]:
    if not hasattr(data, "keys"):
        raise ParseError("expected a JSON object or form fields with the filters")
    # A form's QueryDict would hand out lists; one value per filter is all we take.
    return {key: data.get(key) for key in data}


def _selection(values: Mapping[str, object], *, require: bool) -> Selection:
    try:
        return parse_selection(values, require=require)
    except SelectionError as exc:
        raise ParseError(str(exc)) from None
