from __future__ import annotations

from rest_framework import serializers

from catalog import registry, watching
from catalog.models import WatchedSeries


class WatchedSeriesSerializer(serializers.ModelSerializer):
    """A watched series with its check state and how many releases the feed got from it."""

    watched = serializers.SerializerMethodField()
    releases_seen = serializers.IntegerField(source="seen", read_only=True)

    class Meta:
        model = WatchedSeries
        fields = [
            "id",
            "site",
            "slug",
            "title",
            "tvdb_id",
            "watched",
            "pinned",
            "stopped",
            "last_reason",
            "last_activity_at",
            "last_checked_at",
            "next_check_at",
            "last_error",
            "last_error_at",
            "releases_seen",
        ]
        read_only_fields = fields

    def get_watched(self, obj: WatchedSeries) -> bool:
        return watching.is_watched(obj)


class WatchRequestSerializer(serializers.Serializer):
    """POST /api/watched/: watch a series by hand."""

    site = serializers.CharField(max_length=32)
    slug = serializers.CharField(max_length=200)
    title = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    tvdb_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)

    def validate_site(self, value: str) -> str:
        if value not in registry.site_names():  # the names themselves, as a choice would
            raise serializers.ValidationError(f'"{value}" is not a valid choice.')
        return value
