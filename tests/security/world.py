"""One API key's world built through the services: a linked connection with its timeline, inbound and
outbound messages (one with media), a webhook endpoint with a delivery, each carrying a marker string
so a leak of it into another key's responses is easy to spot."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rest_framework.test import APIClient

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class World:
    label: str
    marker: str
    api_key_id: int
    client: APIClient
    secret: str = ""
    connection_id: int = 0
    chat_jid: str = ""
    message_id: int = 0
    outbound_message_id: int = 0
    media_id: int = 0
    endpoint_id: int = 0
    delivery_id: int = 0
    event_ids: list[int] = field(default_factory=list)

    def ids(self) -> dict[str, int]:
        return {
            "connection": self.connection_id,
            "message": self.message_id,
            "outbound_message": self.outbound_message_id,
            "media": self.media_id,
            "endpoint": self.endpoint_id,
            "delivery": self.delivery_id,
        }


def build_world(label: str, phone_digits: str) -> World:
    from accounts import services as accounts
    from apikeys.services import apikey_create
    from messaging import inbound
    from messaging import services as messaging
    from webhooks import services as webhooks
    from wildcat.whatsapp import AccountInfo, MediaPayload, MessageType

    api_key, secret = apikey_create(label=f"integrator-{label}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    marker = f"marker{label}{phone_digits}"
    world = World(label=label, marker=marker, api_key_id=api_key.pk, client=client, secret=secret)

    endpoint, _ = webhooks.endpoint_create(
        api_key_id=api_key.pk, url=f"http://127.0.0.1:9/{marker}", description=marker
    )
    world.endpoint_id = endpoint.pk
    connection = accounts.connection_create(api_key_id=api_key.pk, name=f"{marker}-phone")
    world.connection_id = connection.pk
    accounts.connection_start(connection=connection)
    accounts.connection_qr_issue(connection_id=connection.pk, qr=f"2@{marker}", expires_in=600)
    account = AccountInfo(
        whatsapp_id=f"{phone_digits}:1@s.whatsapp.net", phone_number=phone_digits, profile_name=marker, platform="t"
    )
    accounts.connection_transition(connection_id=connection.pk, to_status="authenticated", account=account)
    accounts.connection_transition(connection_id=connection.pk, to_status="ready")

    world.chat_jid = f"{phone_digits[:-1]}7@s.whatsapp.net"
    now = datetime.now(UTC)
    text = inbound_message(world.chat_jid, f"{marker}-hello", now, MessageType.TEXT)
    world.message_id = inbound.message_receive(connection_id=connection.pk, message=text).pk
    media = MediaPayload(content=PNG_1PX, mimetype="image/png", filename=f"{marker}.png")
    picture = inbound_message(world.chat_jid, f"{marker}-picture", now, MessageType.IMAGE, media=media)
    stored = inbound.message_receive(connection_id=connection.pk, message=picture)
    world.media_id = stored.media_id
    send = messaging.SendRequest(chat_jid=world.chat_jid, type="text", text=f"{marker}-reply")
    body, _ = messaging.message_send(api_key_id=api_key.pk, connection_id=connection.pk, request=send)
    world.outbound_message_id = body["id"]
    world.delivery_id = webhooks.endpoint_send_test(endpoint=endpoint).pk

    from webhooks.models import WebhookEvent

    world.event_ids = list(WebhookEvent.objects.filter(api_key_id=api_key.pk).values_list("pk", flat=True))
    return world


def inbound_message(chat_jid: str, text: str, at: datetime, message_type, media=None):
    import secrets

    from wildcat.whatsapp import InboundMessage

    return InboundMessage(
        wa_message_id=secrets.token_hex(10).upper(),
        chat_jid=chat_jid,
        sender_jid=chat_jid,
        from_me=False,
        is_group=False,
        type=message_type,
        timestamp=at,
        text=text,
        media=media,
    )
