"""factory-boy factory for webhook endpoints (connections come from tests.accounts.factories)."""

from __future__ import annotations

import factory

from tests.apikeys.factories import ApiKeyFactory
from webhooks import signing
from webhooks.models import WebhookEndpoint


class EndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    api_key = factory.SubFactory(ApiKeyFactory)
    url = "http://127.0.0.1:9/hook"
    secret = factory.LazyFunction(signing.secret_generate)
    event_types = factory.LazyFunction(list)
