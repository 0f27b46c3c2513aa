from __future__ import annotations

from rest_framework import serializers

from catalog.models import EPISODE_FIELDS
from strm.models import StrmUrlMapping


class StrmUrlMappingSerializer(serializers.ModelSerializer):
    """A mapping's identity, file and health; not the URL or headers (tokens, cookies)."""

    class Meta:
        model = StrmUrlMapping
        fields = [
            "id",
            *EPISODE_FIELDS,
            "provider",
            "strm_path",
            "provider_used",
            "resolved_at",
            "last_status",
            "last_checked_at",
            "fail_count",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
