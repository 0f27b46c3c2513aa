from django.contrib import admin
from django.urls import path

from anibridge_site.health import health

admin.site.site_header = "AniBridge"
admin.site.site_title = "AniBridge admin"

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
]
