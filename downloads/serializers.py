from __future__ import annotations

from rest_framework import serializers

from catalog.models import EPISODE_FIELDS
from downloads.models import Job


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            *EPISODE_FIELDS,
            "provider",
            "release_name",
            "provider_used",
            "source_site",
            "progress",
            "downloaded_bytes",
            "total_bytes",
            "speed",
            "eta",
            "message",
            "result_path",
            "attempts",
            "celery_task_id",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
