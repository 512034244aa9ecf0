"""Every /api/v1/ route, gathered from the apps."""

from django.urls import include, path

urlpatterns = [
    path("", include("apikeys.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("webhooks.api.urls")),
]
