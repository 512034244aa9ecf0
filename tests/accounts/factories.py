"""factory-boy factories for connections, their timeline and session commands."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import ConnectionEvent, SandboxCredential, SessionCommand, WaConnection
from tests.apikeys.factories import ApiKeyFactory


class ConnectionFactory(factory.django.DjangoModelFactory):
    """The one connection factory. ``ready=True`` gives a linked, ready phone; ``running=True`` one meant to run."""

    class Meta:
        model = WaConnection

    class Params:
        running = factory.Trait(desired_state=WaConnection.DesiredState.RUNNING)
        ready = factory.Trait(
            status=WaConnection.Status.READY,
            authenticated_at=factory.LazyFunction(timezone.now),
            ready_at=factory.LazyFunction(timezone.now),
            whatsapp_id="15550009999@s.whatsapp.net",
            phone_number="15550009999",
        )

    api_key = factory.SubFactory(ApiKeyFactory)
    name = factory.Sequence(lambda n: f"connection-{n}")
    driver = WaConnection.Driver.SANDBOX


class SandboxCredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SandboxCredential

    connection = factory.SubFactory(ConnectionFactory)
    whatsapp_id = factory.Sequence(lambda n: f"155577{n:05d}:12@s.whatsapp.net")
    phone_number = factory.Sequence(lambda n: f"+155577{n:05d}")
    profile_name = "Sandbox tester"
    platform = "sandbox"
    device_key = "ZGV2aWNlLWtleQ=="


class ConnectionEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectionEvent

    connection = factory.SubFactory(ConnectionFactory)
    kind = ConnectionEvent.Kind.STATE


class SessionCommandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionCommand

    connection = factory.SubFactory(ConnectionFactory, running=True)
    kind = SessionCommand.Kind.CALL
    payload = factory.LazyFunction(lambda: {"op": "list_groups", "args": {}})
