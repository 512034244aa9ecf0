"""URL map: the admin, the versioned API, its schema and docs, and the operational endpoints."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from wildcat import health, metrics

handler404 = "wildcat.views.not_found"
handler500 = "wildcat.views.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("wildcat.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
