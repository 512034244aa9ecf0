"""Every /api/v1/ route, gathered from the apps.

Routes are tried in order: the hottest (the key check and message sends) come first. No two apps'
patterns overlap, so the order never changes which view answers.
"""

from django.urls import include, path

urlpatterns = [
    path("", include("apikeys.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("webhooks.api.urls")),
]
