"""Routes of the webhooks API under /api/v1/."""

from django.urls import path

from webhooks.api import views

urlpatterns = [
    path("webhooks", views.EndpointListView.as_view(), name="webhook-list"),
    path("webhooks/event-types", views.EventTypesView.as_view(), name="webhook-event-types"),
    path("webhooks/<int:pk>", views.EndpointDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:pk>/rotate-secret", views.RotateSecretView.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<int:pk>/test", views.TestEventView.as_view(), name="webhook-test"),
    path("webhooks/<int:pk>/replay", views.EndpointReplayView.as_view(), name="webhook-replay"),
    path("webhooks/<int:pk>/deliveries", views.EndpointDeliveriesView.as_view(), name="webhook-deliveries"),
    path("deliveries/<int:pk>", views.DeliveryDetailView.as_view(), name="delivery-detail"),
    path("deliveries/<int:pk>/replay", views.DeliveryReplayView.as_view(), name="delivery-replay"),
]
