"""Routes of the connections API under /api/v1/."""

from django.urls import path

from accounts.api import views

CONNECTION = "connections/<int:connection_id>"

urlpatterns = [
    path("connections", views.ConnectionListView.as_view(), name="connection-list"),
    path(CONNECTION, views.ConnectionDetailView.as_view(), name="connection-detail"),
    path(f"{CONNECTION}/qr", views.ConnectionQrView.as_view(), name="connection-qr"),
    path(f"{CONNECTION}/qr.png", views.ConnectionQrPngView.as_view(), name="connection-qr-png"),
    path(f"{CONNECTION}/pair-code", views.PairCodeView.as_view(), name="connection-pair-code"),
    path(f"{CONNECTION}/start", views.StartView.as_view(), name="connection-start"),
    path(f"{CONNECTION}/stop", views.StopView.as_view(), name="connection-stop"),
    path(f"{CONNECTION}/restart", views.RestartView.as_view(), name="connection-restart"),
    path(f"{CONNECTION}/logout", views.LogoutView.as_view(), name="connection-logout"),
    path(f"{CONNECTION}/events", views.ConnectionEventsView.as_view(), name="connection-events"),
    path(f"{CONNECTION}/sandbox/scan", views.SandboxScanView.as_view(), name="sandbox-scan"),
    path(f"{CONNECTION}/sandbox/inject/message", views.InjectMessageView.as_view(), name="sandbox-inject-message"),
    path(
        f"{CONNECTION}/sandbox/inject/disconnect",
        views.InjectDisconnectView.as_view(),
        name="sandbox-inject-disconnect",
    ),
    path(f"{CONNECTION}/sandbox/inject/logout", views.InjectLogoutView.as_view(), name="sandbox-inject-logout"),
    path(f"{CONNECTION}/sandbox/inject/ban", views.InjectBanView.as_view(), name="sandbox-inject-ban"),
]
