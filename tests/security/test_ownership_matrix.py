"""Key A can never reach key B's data: every /api/v1/ route with an id, every method, from the URL map.

The matrix is built from the URL configuration, so a route added later without an entry in FILLS
(and BODIES for writes) fails here until someone states how to point it at another key's object.
"""

from __future__ import annotations

import json

import pytest

from tests.security.routes import Route, api_routes, routes_with_params
from tests.security.world import World

pytestmark = pytest.mark.django_db

MISSING_ID = 2_000_000_000  # fits every integer column, exists nowhere
GROUP_JID = "120363000000000001@g.us"


def _connection(world: World) -> dict:
    return {"connection_id": world.connection_id}


# How to point each route at a world's objects. The ownership-bearing id is what differs between keys.
FILLS = {
    **dict.fromkeys(
        (
            "connection-detail",
            "connection-qr",
            "connection-qr-png",
            "connection-pair-code",
            "connection-start",
            "connection-stop",
            "connection-restart",
            "connection-logout",
            "connection-events",
            "sandbox-scan",
            "sandbox-inject-message",
            "sandbox-inject-disconnect",
            "sandbox-inject-logout",
            "sandbox-inject-ban",
            "message-list",
            "chat-list",
            "contacts-check",
            "group-list",
        ),
        _connection,
    ),
    "chat-read": lambda w: {"connection_id": w.connection_id, "jid": w.chat_jid},
    "chat-presence": lambda w: {"connection_id": w.connection_id, "jid": w.chat_jid},
    "group-detail": lambda w: {"connection_id": w.connection_id, "jid": GROUP_JID},
    "message-detail": lambda w: {"message_id": w.outbound_message_id},
    "media-download": lambda w: {"media_id": w.media_id},
    **{
        name: (lambda w: {"pk": w.endpoint_id})
        for name in (
            "webhook-detail",
            "webhook-rotate-secret",
            "webhook-test",
            "webhook-replay",
            "webhook-deliveries",
        )
    },
    "delivery-detail": lambda w: {"pk": w.delivery_id},
    "delivery-replay": lambda w: {"pk": w.delivery_id},
}
# Parameters that are not ownership ids stay as they are when the id is swapped for a missing one.
NOT_IDS = {"jid"}

PHONE = "+4915112345678"
# A valid body for every write, so a view that validated before checking ownership would show up
# as a 400 instead of the 404.
BODIES = {
    ("connection-detail", "patch"): {"presence": "available"},
    ("connection-pair-code", "post"): {"phone": PHONE},
    ("connection-start", "post"): {},
    ("connection-stop", "post"): {},
    ("connection-restart", "post"): {},
    ("connection-logout", "post"): {},
    ("sandbox-scan", "post"): {"phone": PHONE},
    ("sandbox-inject-message", "post"): {"sender": PHONE, "text": "hello"},
    ("sandbox-inject-disconnect", "post"): {},
    ("sandbox-inject-logout", "post"): {},
    ("sandbox-inject-ban", "post"): {},
    ("message-list", "post"): {"to": PHONE, "type": "text", "text": "hello"},
    ("chat-read", "post"): {},
    ("chat-presence", "post"): {"state": "typing"},
    ("contacts-check", "post"): {"numbers": [PHONE]},
    ("message-detail", "patch"): {"text": "edited"},
    ("webhook-detail", "patch"): {"description": "changed"},
    ("webhook-rotate-secret", "post"): {},
    ("webhook-test", "post"): {},
    ("webhook-replay", "post"): {"since": "2020-01-01T00:00:00Z"},
    ("delivery-replay", "post"): {},
}


def _call(world: World, method: str, path: str, body: dict | None):
    kwargs = {"format": "json"} if method in ("post", "put", "patch") else {}
    return getattr(world.client, method)(path, body if body is not None else None, **kwargs)


def _content(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _missing(route: Route, values: dict) -> dict:
    return {name: (value if name in NOT_IDS else MISSING_ID) for name, value in values.items()}


def _unfilled(routes: list[Route]) -> list[str]:
    problems = [f"{r.name} ({r.pattern})" for r in routes if r.name not in FILLS]
    problems += [
        f"{r.name} {m.upper()} needs a body in BODIES"
        for r in routes
        for m in r.methods
        if m in ("post", "put", "patch") and (r.name, m) not in BODIES
    ]
    return problems


def test_every_route_with_an_id_is_in_the_matrix():
    routes = routes_with_params()
    assert len(routes) >= 25, [r.pattern for r in routes]  # the URL map was read, not an empty list
    problems = _unfilled(routes)
    assert not problems, "add these routes to FILLS/BODIES in tests/security/test_ownership_matrix.py: " + "; ".join(
        problems
    )


def _snapshot(world: World) -> dict:
    from accounts.models import SessionCommand, WaConnection
    from messaging.models import Media, Message
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    connection = WaConnection.objects.get(pk=world.connection_id)
    endpoint = WebhookEndpoint.objects.get(pk=world.endpoint_id)
    return {
        "connection": (connection.status, connection.desired_state, connection.name),
        "commands": SessionCommand.objects.filter(connection_id=world.connection_id).count(),
        "messages": sorted(Message.objects.filter(api_key_id=world.api_key_id).values_list("pk", "text", "status")),
        "media": Media.objects.filter(pk=world.media_id).count(),
        "endpoint": (endpoint.url, endpoint.description, endpoint.secret, endpoint.enabled),
        "deliveries": sorted(
            WebhookDelivery.objects.filter(endpoint_id=world.endpoint_id).values_list("pk", "status", "next_attempt_at")
        ),
    }


def test_another_keys_ids_answer_exactly_like_missing_ids(worlds):
    a, b = worlds
    routes = routes_with_params()
    assert not _unfilled(routes)
    before = _snapshot(b)
    checked = []
    # Deletes last, so an ownership hole in DELETE could not hide one in another method.
    pairs = sorted(((r, m) for r in routes for m in r.methods), key=lambda pair: pair[1] == "delete")
    for route, method in pairs:
        values = FILLS[route.name](b)
        body = BODIES.get((route.name, method))
        missing = _call(a, method, route.path(_missing(route, values)), body)
        foreign = _call(a, method, route.path(values), body)
        where = f"{method.upper()} {route.path(values)}"
        assert missing.status_code == 404, f"{where} with a missing id: {missing.status_code} {_content(missing)!r}"
        assert foreign.status_code == 404, f"{where} with key B's id: {foreign.status_code} {_content(foreign)!r}"
        assert json.loads(_content(foreign)) == json.loads(_content(missing)), where
        assert b.marker.encode() not in _content(foreign)
        checked.append(where)
    assert len(checked) >= 30
    assert _snapshot(b) == before, "key A's requests changed key B's data"


def test_own_ids_are_found_and_no_response_mentions_the_other_key(worlds):
    """The positive side: the same GETs with A's own ids are answered, and never carry B's markers."""
    a, b = worlds
    seen = 0
    for route in api_routes():
        if "get" not in route.methods:
            continue
        path = route.path(FILLS[route.name](a)) if route.params else "/" + route.pattern
        response = a.client.get(path)
        content = _content(response)
        if route.params:
            assert response.status_code != 404, f"GET {path} with A's own id: {response.status_code} {content!r}"
        assert response.status_code < 500 or response.status_code == 504, f"GET {path}: {content!r}"
        assert b.marker.encode() not in content, f"GET {path} shows key B's data"
        seen += 1
    assert seen >= 15
