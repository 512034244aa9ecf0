"""Bounded schemathesis run over the whole API: no 5xx, responses match the schema, auth is enforced."""

from __future__ import annotations

import os

import pytest

from accounts.models import SessionCommand
from tests.security.fuzzing import fuzz
from tests.security.world import build_world
from tests.support.inprocess_host import InProcessHost, lease_for_the_test, sandbox_link
from tests.support.processes import wait_until

# A few examples per operation keeps `make test` within minutes; bench/security runs hundreds.
EXAMPLES = int(os.environ.get("WILDCAT_TEST_FUZZ_EXAMPLES", "8"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(max(900, EXAMPLES * 20))
def test_fuzz_the_api_schema(short_waits, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WILDCAT_API_RATE = "100000/min"
    # The fuzzer sends wrong keys from one address on purpose; each must answer 401, not the 429 of
    # the failed-authentication throttle (tested in tests/apikeys/test_authentication.py).
    settings.WILDCAT_AUTH_FAILURE_RATE = "100000/min"
    settings.WILDCAT_SESSION_CALL_TIMEOUT = 5  # the hosted session below answers session calls
    world = build_world("fuzz", "4915100000009")
    real_ids = {
        "connection_id": world.connection_id,
        "message_id": world.outbound_message_id,
        "media_id": world.media_id,
        "webhooks:id": world.endpoint_id,
        "deliveries:id": world.delivery_id,
    }
    # The world's connection runs in the production session host, in this process.
    sandbox_link(world.connection_id)
    lease_for_the_test(world.connection_id)
    with InProcessHost(world.connection_id) as host:
        wait_until(lambda: host.ready(world.connection_id), timeout=30, message="the hosted session is online")
        report = fuzz(secret=world.secret, real_ids=real_ids, max_examples=EXAMPLES)
    answered = SessionCommand.objects.filter(connection_id=world.connection_id, status__in=["done", "failed"])
    answered = answered.exclude(error__contains="cancelled").count()
    print(report.summary(), f"; the session answered {answered} session commands")
    assert not host.failures(), host.failures()[:5]
    assert answered > 0  # session calls reached a live session
    assert report.operations >= 30
    assert report.requests >= report.operations * 2
    assert not report.failures, "\n\n".join(f"{label}\n{error}" for label, error in report.failures.items())
    # No 5xx but a 503 with Retry-After (checked per response above).
    assert not [code for code in report.statuses if code >= 500 and code != 503]
