"""Routes of the messaging API under /api/v1/."""

from django.urls import path

from messaging.api import views

urlpatterns = [
    path("connections/<int:connection_id>/messages", views.ConnectionMessagesView.as_view(), name="message-list"),
    path("connections/<int:connection_id>/chats", views.ChatListView.as_view(), name="chat-list"),
    path("connections/<int:connection_id>/chats/<str:jid>/read", views.ChatReadView.as_view(), name="chat-read"),
    path(
        "connections/<int:connection_id>/chats/<str:jid>/presence",
        views.ChatPresenceView.as_view(),
        name="chat-presence",
    ),
    path("connections/<int:connection_id>/contacts/check", views.ContactsCheckView.as_view(), name="contacts-check"),
    path("connections/<int:connection_id>/groups", views.GroupListView.as_view(), name="group-list"),
    path("connections/<int:connection_id>/groups/<str:jid>", views.GroupDetailView.as_view(), name="group-detail"),
    path("messages/<int:message_id>", views.MessageDetailView.as_view(), name="message-detail"),
    path("media/<int:media_id>", views.MediaDownloadView.as_view(), name="media-download"),
]
