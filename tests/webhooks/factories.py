"""factory-boy factories for webhook endpoints and the connections they may filter on."""

from __future__ import annotations

import factory

from accounts.models import WaConnection
from tests.apikeys.factories import ApiKeyFactory
from webhooks import signing
from webhooks.models import WebhookEndpoint


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WaConnection

    api_key = factory.SubFactory(ApiKeyFactory)
    name = factory.Sequence(lambda n: f"phone-{n}")


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    api_key = factory.SubFactory(ApiKeyFactory)
    url = "http://127.0.0.1:9/hook"
    secret = factory.LazyFunction(signing.secret_generate)
    event_types = factory.LazyFunction(list)
