"""factory-boy factory for messages: a stored text message on a ready connection, outbound unless told."""

from __future__ import annotations

import factory
from django.utils import timezone

from messaging.models import Message
from tests.accounts.factories import ConnectionFactory


class MessageFactory(factory.django.DjangoModelFactory):
    """``inbound=True`` gives a received message from the chat's peer; otherwise one this phone sent."""

    class Meta:
        model = Message

    class Params:
        inbound = factory.Trait(
            direction=Message.Direction.INBOUND,
            from_me=False,
            sender_jid=factory.SelfAttribute("chat_jid"),
            status=Message.Status.DELIVERED,
            sent_at=None,
        )

    connection = factory.SubFactory(ConnectionFactory, ready=True)
    api_key_id = factory.SelfAttribute("connection.api_key_id")
    direction = Message.Direction.OUTBOUND
    from_me = True
    wa_message_id = factory.Sequence(lambda n: f"3EB0{n:016X}")
    chat_jid = "4915112345678@s.whatsapp.net"
    sender_jid = factory.SelfAttribute("connection.whatsapp_id")
    type = Message.Type.TEXT
    text = factory.Sequence(lambda n: f"message {n}")
    status = Message.Status.SENT
    timestamp = factory.LazyFunction(timezone.now)
    sent_at = factory.LazyFunction(timezone.now)
