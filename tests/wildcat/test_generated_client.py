"""A client generated from /api/schema/ drives a whole flow against a live server and real workers, unpatched.

Create, start, scan, send every type (JSON and multipart), edit, revoke, read history and media,
webhooks with deliveries and replays, and errors that the typed client parses as the Error model.
"""

from __future__ import annotations

import io
import json

import pytest
from jsonschema import Draft202012Validator

from tests.accounts.runtime_support import RUNTIME_ENV
from tests.messaging.samples import JPEG, MP4, OGG_OPUS, PDF, PNG, WEBP, b64
from tests.support.http_receiver import receiving
from tests.support.processes import running, start_beat, start_worker, wait_for_child_sessions_to_end, wait_until
from tests.wildcat.generated_client import GeneratedClient, forget_client, generate_client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PEER = "+4915123456789"
ENV = {
    **RUNTIME_ENV,
    "WILDCAT_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WILDCAT_SANDBOX_READ_SECONDS": "0.5",
    "WILDCAT_SEND_RATE_PER_MINUTE": "0",
    "WILDCAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
}
JSON_SENDS = [
    {"type": "text", "text": "hello"},
    {"type": "image", "media": {"base64": b64(PNG)}, "caption": "a picture"},
    {"type": "video", "media": {"base64": b64(MP4)}},
    {"type": "audio", "voice_note": True, "media": {"base64": b64(OGG_OPUS)}},
    {"type": "document", "media": {"base64": b64(PDF), "filename": "a.pdf"}},
    {"type": "sticker", "media": {"base64": b64(WEBP)}},
    {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5, "name": "here"}},
    {"type": "contact", "contact": {"name": "Ada", "phone": "+4915123456780"}},
    {"type": "poll", "poll": {"name": "Q?", "options": ["a", "b"]}},
]


class Flow:
    """The generated client, its API key and the ids the flow collects on its way."""

    def __init__(self, generated: GeneratedClient, base_url: str, secret: str) -> None:
        self.generated = generated
        self.models = generated.models
        self.client = generated.authenticated(base_url, secret)
        self.stranger = generated.authenticated(base_url, "wc_live_not_a_key")
        self.data_schemas: dict[str, dict] = {}

    def call(self, operation_id: str, expected: int, **kwargs):
        response = self.generated.op(operation_id).sync_detailed(client=self.client, **kwargs)
        assert response.status_code == expected, (operation_id, response.status_code, response.content)
        return response.parsed

    def error(self, operation_id: str, expected: int, *, client=None, **kwargs):
        module = self.generated.op(operation_id)
        response = module.sync_detailed(client=client or self.client, **kwargs)
        assert response.status_code == expected, (operation_id, response.status_code, response.content)
        assert isinstance(response.parsed, self.models.Error), f"{operation_id} {expected} is not parsed as Error"
        return response.parsed.error


@pytest.fixture
def workers(redis_url, process_logs, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    media = {"WILDCAT_MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    sessions = start_worker("client-sessions", "sessions", process_logs, pool="threads", **ENV, **media)
    hooks = start_worker("client-hooks", "default,webhooks", process_logs, **ENV, **media)
    with running(sessions, hooks, start_beat(process_logs, **ENV)):
        yield
    wait_for_child_sessions_to_end()


def test_a_generated_client_drives_the_whole_api(live_server, workers, api_key_and_secret, tmp_path):
    generated = generate_client(live_server.url, tmp_path)
    flow = Flow(generated, live_server.url, api_key_and_secret[1])
    # The client's context closes its kept-alive connections, so the server's threads end with the test.
    try:
        with flow.client, flow.stranger, receiving() as receiver:
            endpoint = step_register_webhook(flow, receiver.url)
            connection_id = step_link_a_sandbox_phone(flow)
            sent = step_send_every_type(flow, connection_id)
            step_edit_revoke_and_history(flow, connection_id, sent)
            step_session_calls(flow, connection_id)
            step_webhooks(flow, endpoint.id, receiver)
            step_errors(flow, connection_id, sent)
    finally:
        forget_client(generated)


def step_register_webhook(flow: Flow, url: str):
    me = flow.call("v1_me_retrieve", 200)
    assert isinstance(me, flow.models.Me) and me.prefix
    body = flow.models.EndpointWriteRequest(url=url, description="generated client")
    endpoint = flow.call("v1_webhooks_create", 201, body=body)
    assert isinstance(endpoint, flow.models.EndpointWithSecret) and endpoint.secret.startswith("whsec_")
    types = flow.call("v1_webhooks_event_types_list", 200)
    flow.data_schemas = {entry.type_: entry.data_schema for entry in types}
    assert "message.updated" in flow.data_schemas
    return endpoint


def step_link_a_sandbox_phone(flow: Flow) -> int:
    models = flow.models
    body = models.ConnectionCreateRequest(name="generated", driver=models.DriverEnum.SANDBOX)
    connection = flow.call("v1_connections_create", 201, body=body)
    assert isinstance(connection, models.Connection)
    started = flow.generated.op("v1_connections_start_create").sync_detailed(connection.id, client=flow.client)
    assert started.status_code in (200, 202), started.content

    def status() -> str:
        return flow.call("v1_connections_retrieve", 200, connection_id=connection.id).status.value

    wait_until(lambda: status() == "pending", timeout=90, message="a QR code to scan")
    qr = flow.call("v1_connections_qr_retrieve", 200, connection_id=connection.id)
    assert qr.qr
    scan = flow.generated.op("v1_connections_sandbox_scan_create").sync_detailed(
        connection.id, client=flow.client, body=models.SandboxScanRequest(profile_name="Client")
    )
    assert scan.status_code in (200, 202), scan.content
    wait_until(lambda: status() == "ready", timeout=60, message="the connection ready")
    return connection.id


def step_send_every_type(flow: Flow, connection_id: int) -> dict[str, object]:
    models, sent = flow.models, {}
    for fields in JSON_SENDS:
        body = models.SendJsonRequest.from_dict({"to": PEER, **fields})
        message = flow.call("v1_connections_messages_create", 202, connection_id=connection_id, body=body)
        assert isinstance(message, models.Message) and message.type_.value == fields["type"]
        sent[fields["type"]] = message
    upload = models.SendUploadRequest(
        to=PEER,
        type_=models.SendUploadTypeEnum.IMAGE,
        caption="uploaded",
        file=flow.generated.types.File(payload=io.BytesIO(JPEG), file_name="p.jpg", mime_type="image/jpeg"),
    )
    sent["upload"] = flow.call("v1_connections_messages_create", 202, connection_id=connection_id, body=upload)
    assert sent["upload"].media.mimetype == "image/jpeg"
    reaction = models.SendJsonRequest.from_dict(
        {"to": PEER, "type": "reaction", "reaction": {"message_id": sent["text"].wa_message_id, "emoji": "👍"}}
    )
    sent["reaction"] = flow.call("v1_connections_messages_create", 202, connection_id=connection_id, body=reaction)

    states: dict[str, str] = {}

    def all_read() -> bool:
        for kind, message in sent.items():
            states[kind] = flow.call("v1_messages_retrieve", 200, message_id=message.id).status.value
        # A reaction gets no delivery or read receipt of its own.
        return states == {kind: "sent" if kind == "reaction" else "read" for kind in sent}

    try:
        wait_until(all_read, timeout=90, message="every type sent, delivered and read")
    except AssertionError:
        raise AssertionError(f"not every message reached its final status: {states}")
    return sent


def step_edit_revoke_and_history(flow: Flow, connection_id: int, sent: dict) -> None:
    models = flow.models
    edit = models.PatchedEditRequest(text="hello, edited")
    edited = flow.call("v1_messages_partial_update", 200, message_id=sent["text"].id, body=edit)
    assert edited.text == "hello, edited" and edited.edited_at
    revoked = flow.call("v1_messages_destroy", 200, message_id=sent["poll"].id)
    assert revoked.revoked_at
    inject = models.InjectMessageRequest(sender=PEER, text="from the phone")
    injected = flow.generated.op("v1_connections_sandbox_inject_message_create").sync_detailed(
        connection_id, client=flow.client, body=inject
    )
    assert injected.status_code in (200, 202), injected.content

    def inbound():
        page = flow.call(
            "v1_connections_messages_list",
            200,
            connection_id=connection_id,
            direction=flow.models.V1ConnectionsMessagesListDirection.INBOUND,
        )
        return page.results

    received = wait_until(inbound, timeout=30, message="the inbound message in history")
    assert received[0].text == "from the phone" and received[0].direction.value == "inbound"
    history = flow.call("v1_connections_messages_list", 200, connection_id=connection_id, page_size=100)
    assert {m.id for m in sent.values()} <= {m.id for m in history.results}
    chats = flow.call("v1_connections_chats_list", 200, connection_id=connection_id)
    assert chats.results and chats.results[0].last_message.id
    media = flow.call("v1_media_retrieve", 200, media_id=sent["upload"].media.id)
    assert media.payload.read() == JPEG


def step_session_calls(flow: Flow, connection_id: int) -> None:
    models = flow.models
    check = flow.call(
        "v1_connections_contacts_check_create",
        200,
        connection_id=connection_id,
        body=models.ContactsCheckRequest(numbers=[PEER, "12"]),
    )
    results = check.additional_properties["results"]
    assert {row["valid"] for row in results} == {True, False}
    presence = flow.call(
        "v1_connections_chats_presence_create",
        200,
        connection_id=connection_id,
        jid=PEER,
        body=models.PresenceRequest(state=models.StateEnum.TYPING),
    )
    assert presence.additional_properties["state"] == "typing"


def step_webhooks(flow: Flow, endpoint_id: int, receiver) -> None:
    models = flow.models

    def delivered():
        page = flow.call(
            "v1_webhooks_deliveries_list", 200, id=endpoint_id, status=models.V1WebhooksDeliveriesListStatus.DELIVERED
        )
        return page.results

    deliveries = wait_until(delivered, timeout=60, message="deliveries to the receiver")
    detail = flow.call("v1_deliveries_retrieve", 200, id=deliveries[0].id)
    assert isinstance(detail, models.DeliveryDetail) and detail.attempts
    before = receiver.count()
    replayed = flow.call("v1_deliveries_replay_create", 202, id=deliveries[0].id)
    assert replayed.id == deliveries[0].id
    wait_until(lambda: receiver.count() > before, timeout=30, message="the replayed delivery")
    webhook_ids = [request.headers.get("webhook-id") for request in receiver.requests]
    assert webhook_ids.count(webhook_ids[-1]) >= 2, "a replay keeps the webhook-id"
    since = models.ReplaySinceRequest(since=detail.created_at)
    # Every delivery succeeded, so there is nothing failed to replay.
    assert flow.call("v1_webhooks_replay_create", 202, id=endpoint_id, body=since).replayed == 0
    test = flow.call("v1_webhooks_test_create", 202, id=endpoint_id)
    assert test.event_type == "webhook.test"
    rotated = flow.call("v1_webhooks_rotate_secret_create", 200, id=endpoint_id)
    assert rotated.secret.startswith("whsec_")
    events = [json.loads(request.body) for request in receiver.requests]
    assert {"message.sent", "message.updated", "message.received"} <= {event["type"] for event in events}
    # A receiver that validates each event's data against the published schema accepts every one.
    for event in events:
        schema = flow.data_schemas[event["type"]]
        errors = [error.message for error in Draft202012Validator(schema).iter_errors(event["data"])]
        assert not errors, (event["type"], errors)


def step_errors(flow: Flow, connection_id: int, sent: dict) -> None:
    models = flow.models
    missing = flow.error("v1_messages_retrieve", 404, message_id=10**9)
    assert missing.code == "not_found"
    invalid = flow.error(
        "v1_connections_messages_create",
        400,
        connection_id=connection_id,
        body=models.SendJsonRequest(to="not a phone", text="x"),
    )
    assert invalid.code == "invalid_request" and "to" in invalid.details
    assert flow.error("v1_me_retrieve", 401, client=flow.stranger).code == "not_authenticated"
    taken = models.ConnectionCreateRequest(name="generated", driver=models.DriverEnum.SANDBOX)
    assert flow.error("v1_connections_create", 409, body=taken).message
    not_text = flow.error(
        "v1_messages_partial_update", 409, message_id=sent["image"].id, body=models.PatchedEditRequest(text="x")
    )
    assert not_text.code == "message_not_editable"
    webhook = flow.call("v1_webhooks_list", 200).results[0]
    flow.call("v1_webhooks_partial_update", 200, id=webhook.id, body=models.PatchedEndpointUpdateRequest(enabled=False))
    assert flow.error("v1_webhooks_test_create", 409, id=webhook.id).message
