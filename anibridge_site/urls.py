from django.contrib import admin
from django.urls import include, path

from anibridge_site import admin_login
from anibridge_site.health import health
from qbshim import legacy

urlpatterns = [
    path("health", health, name="health"),
    path("admin/login/", admin_login.login),  # before admin/: banned addresses get a 403
    path("admin/", admin.site.urls),
    path("api/v2/", include("qbshim.urls")),
    path("torznab/", include("torznab.urls")),
    path("strm/", include("strm.urls")),
    path("api/strm/", include("strm.api_urls")),
    path("api/watched/", include("catalog.api_urls")),
    path("", include("downloads.urls")),
    path("downloader/download", legacy.legacy_download),
    path("jobs/<uuid:job_id>", legacy.legacy_job),
    path("jobs/<uuid:job_id>/events", legacy.legacy_job_events),
]
