from django.urls import path

from torznab import views

urlpatterns = [
    path("api", views.api),
    path("api/", views.api),
]
