from django.urls import path

from strm import views

app_name = "strm"

urlpatterns = [
    path("stream", views.stream, name="stream"),
    # Every path below proxy/, malformed ones too: views.proxied keeps tokens out of the log.
    path("proxy/<path:rest>", views.proxied, name="proxy"),
]
