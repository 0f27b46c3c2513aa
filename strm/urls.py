from django.urls import path

from strm import views

app_name = "strm"

urlpatterns = [
    path("stream", views.stream, name="stream"),
    path("proxy/<str:token>/<str:name>", views.proxied, name="proxy"),
]
