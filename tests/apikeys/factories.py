"""factory-boy factories for API keys; each created key carries its clear secret as ``.secret``."""

from __future__ import annotations

import factory
from django.utils import timezone

from apikeys import keys
from apikeys.models import ApiKey


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    label = factory.Sequence(lambda n: f"key-{n}")
    secret = factory.LazyFunction(keys.generate_key)
    token_hash = factory.LazyAttribute(lambda o: keys.hash_key(o.secret))
    token_prefix = factory.LazyAttribute(lambda o: keys.display_prefix(o.secret))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        secret = kwargs.pop("secret")
        api_key = super()._create(model_class, *args, **kwargs)
        api_key.secret = secret
        return api_key


class RevokedApiKeyFactory(ApiKeyFactory):
    status = ApiKey.Status.REVOKED
    revoked_at = factory.LazyFunction(timezone.now)
