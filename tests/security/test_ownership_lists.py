"""Lists, filters and cursors only ever show the caller's rows, and ids in bodies are scoped too."""

from __future__ import annotations

import pytest

from tests.security.test_ownership_matrix import MISSING_ID
from tests.security.world import World

pytestmark = pytest.mark.django_db


def _extra_rows(world: World, count: int) -> None:
    from accounts.services import connection_create
    from webhooks.services import endpoint_create

    for n in range(count):
        connection_create(api_key_id=world.api_key_id, name=f"{world.marker}-extra-{n}")
        endpoint_create(api_key_id=world.api_key_id, url=f"http://127.0.0.1:9/{world.marker}/{n}")


def _walk(world: World, path: str) -> tuple[list[int], list[str]]:
    """Every id of a list, following its cursors two rows at a time; also the cursors seen."""
    ids, cursors, url = [], [], f"{path}{'&' if '?' in path else '?'}page_size=2"
    while url:
        response = world.client.get(url)
        assert response.status_code == 200, response.content
        ids += [row["id"] for row in response.json()["results"]]
        url = response.json()["next"]
        if url:
            cursors.append(url.split("cursor=", 1)[1].split("&", 1)[0])
    return ids, cursors


@pytest.mark.parametrize(
    ("path", "model_path"),
    [("/api/v1/connections", "accounts.models.WaConnection"), ("/api/v1/webhooks", "webhooks.models.WebhookEndpoint")],
)
def test_lists_and_their_cursors_show_only_the_callers_rows(worlds, path, model_path):
    from django.utils.module_loading import import_string

    a, b = worlds
    _extra_rows(a, 3)
    _extra_rows(b, 3)
    model = import_string(model_path)
    own = set(model.objects.filter(api_key_id=a.api_key_id).values_list("pk", flat=True))
    theirs = set(model.objects.filter(api_key_id=b.api_key_id).values_list("pk", flat=True))
    a_ids, _ = _walk(a, path)
    assert len(a_ids) == len(set(a_ids)) and set(a_ids) == own
    b_ids, b_cursors = _walk(b, path)
    assert set(b_ids) == theirs
    # B's cursors are positions, not permissions: in A's hands they page through A's rows only,
    # namely A's rows older than the B row the cursor points after.
    assert b_cursors, "B has more rows than one page, so it was handed a cursor"
    pages_with_rows = 0
    for index, cursor in enumerate(b_cursors):
        response = a.client.get(f"{path}?page_size=2&cursor={cursor}")
        assert response.status_code == 200
        page = [row["id"] for row in response.json()["results"]]
        boundary = model.objects.get(pk=b_ids[2 * index + 1]).created_at
        older = model.objects.filter(api_key_id=a.api_key_id, created_at__lt=boundary).order_by("-created_at", "-id")
        assert page == list(older.values_list("pk", flat=True)[:2])
        assert set(page) <= own
        pages_with_rows += bool(page)
    assert pages_with_rows >= 1, "no cursor of B's reached any of A's rows: the scoping went untested"


def test_history_filters_never_reach_another_keys_chats(worlds):
    from messaging.models import Message

    a, b = worlds
    base = f"/api/v1/connections/{a.connection_id}/messages"
    for query in (f"?chat={b.chat_jid}", f"?q={b.marker}", "?direction=inbound", "?type=image", ""):
        response = a.client.get(base + query)
        assert response.status_code == 200, (query, response.content)
        ids = {row["id"] for row in response.json()["results"]}
        assert ids <= set(Message.objects.filter(api_key_id=a.api_key_id).values_list("pk", flat=True)), query
        assert b.marker not in response.content.decode()
    # The positive side: the filters do find A's own rows.
    assert a.client.get(f"{base}?q={a.marker}").json()["results"]
    chats = a.client.get(f"/api/v1/connections/{a.connection_id}/chats").json()["results"]
    assert [chat["chat_jid"] for chat in chats] == [a.chat_jid]


def test_timeline_and_deliveries_list_only_the_callers_rows(worlds):
    from accounts.models import ConnectionEvent
    from webhooks.models import WebhookDelivery

    a, b = worlds
    events, _ = _walk(a, f"/api/v1/connections/{a.connection_id}/events")
    timeline = ConnectionEvent.objects.filter(connection_id=a.connection_id).values_list("pk", flat=True)
    assert set(events) == set(timeline)
    deliveries, _ = _walk(a, f"/api/v1/webhooks/{a.endpoint_id}/deliveries?type=webhook.test")
    assert deliveries == [a.delivery_id]
    assert not WebhookDelivery.objects.filter(pk__in=deliveries, endpoint__api_key_id=b.api_key_id).exists()


def test_ids_inside_request_bodies_are_scoped_to_the_key(worlds):
    """A webhook filtered on B's connection, or a reply quoting B's message, looks like a missing id."""
    a, b = worlds
    answers = []
    for connection_id in (b.connection_id, MISSING_ID):
        body = {"url": "http://127.0.0.1:9/hook", "connection_id": connection_id}
        answers.append(a.client.post("/api/v1/webhooks", body, format="json"))
    assert [r.status_code for r in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert "connection_id" in answers[0].json()["error"]["details"]

    replies = []
    for message_id in (b.message_id, MISSING_ID):
        body = {"to": "+4915112345678", "type": "text", "text": "hi", "reply_to": str(message_id)}
        replies.append(a.client.post(f"/api/v1/connections/{a.connection_id}/messages", body, format="json"))
    assert [r.status_code for r in replies] == [400, 400]
    first, second = (r.json()["error"] for r in replies)
    assert first["code"] == second["code"] and list(first["details"]) == list(second["details"]) == ["reply_to"]
    assert b.marker not in replies[0].content.decode()
