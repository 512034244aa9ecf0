"""Standard Webhooks signing: the spec's test vector, a stock verifier, and rotation's two signatures."""

from __future__ import annotations

import base64

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from tests.support.http_receiver import receiving
from tests.webhooks.factories import EndpointFactory
from webhooks import signing
from webhooks.drain import deliveries_drain
from webhooks.services import endpoint_rotate_secret, event_emit

pytestmark = pytest.mark.django_db


def test_the_spec_test_vector():
    signature = signing.sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_carry_at_least_24_random_bytes():
    first, second = signing.secret_generate(), signing.secret_generate()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) >= 24


def _deliver_to(receiver, endpoint) -> dict:
    event = event_emit(api_key_id=endpoint.api_key_id, event_type="message.received", data={"text": "héllo"})
    deliveries_drain(ids=[event.deliveries.get().pk])
    assert receiver.count() == 1
    return receiver.requests[0]


def test_a_stock_standardwebhooks_verifier_accepts_what_we_send():
    with receiving() as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        request = _deliver_to(receiver, endpoint)
    headers = {name.lower(): value for name, value in request.headers.items()}
    payload = Webhook(endpoint.secret).verify(request.body, headers)
    assert payload["type"] == "message.received"
    assert payload["data"]["text"] == "héllo"
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60


def test_after_a_rotation_both_secrets_verify_until_the_grace_period_ends(settings):
    settings.WILDCAT_WEBHOOK_ROTATION_GRACE_SECONDS = 3600
    with receiving() as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        old_secret = endpoint.secret
        new_secret = endpoint_rotate_secret(endpoint=endpoint)
        request = _deliver_to(receiver, endpoint)
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(request.body, headers)
    Webhook(new_secret).verify(request.body, headers)


def test_without_a_grace_period_the_old_secret_stops_at_once(settings):
    from standardwebhooks.webhooks import WebhookVerificationError

    settings.WILDCAT_WEBHOOK_ROTATION_GRACE_SECONDS = 0
    with receiving() as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        old_secret = endpoint.secret
        new_secret = endpoint_rotate_secret(endpoint=endpoint)
        request = _deliver_to(receiver, endpoint)
    headers = {name.lower(): value for name, value in request.headers.items()}
    Webhook(new_secret).verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, headers)
