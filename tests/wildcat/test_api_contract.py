"""The published contract is exact: declared bodies are the only accepted ones, and every error is documented."""

from __future__ import annotations

import json
import re

import pytest
from rest_framework.test import APIClient

from tests.security.world import World, build_world

pytestmark = pytest.mark.django_db
ERROR_REF = {"$ref": "#/components/schemas/Error"}
# The operations whose bodies are JSON objects only; the send is the one that also takes multipart.
JSON_ONLY = {
    ("post", "/api/v1/webhooks"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/replay"),
    ("post", "/api/v1/connections/{connection_id}/contacts/check"),
    ("post", "/api/v1/connections/{connection_id}/chats/{jid}/presence"),
    ("patch", "/api/v1/messages/{message_id}"),
}
SEND = ("post", "/api/v1/connections/{connection_id}/messages")


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_json_bodies_are_declared_as_json_only_and_the_send_has_one_component_per_encoding(schema):
    bodies = {(m, p): op["requestBody"]["content"] for m, p, op in _operations(schema) if "requestBody" in op}
    assert set(bodies) >= JSON_ONLY
    for operation, content in bodies.items():
        if operation != SEND:
            assert list(content) == ["application/json"], operation
    send = bodies[SEND]
    assert sorted(send) == ["application/json", "multipart/form-data"]
    json_ref, upload_ref = send["application/json"]["schema"]["$ref"], send["multipart/form-data"]["schema"]["$ref"]
    assert json_ref != upload_ref
    components = schema["components"]["schemas"]
    upload = components[upload_ref.rsplit("/", 1)[1]]
    assert upload["properties"]["file"]["format"] == "binary" and "file" in upload["required"]
    assert "file" not in components[json_ref.rsplit("/", 1)[1]]["properties"]


def _expected_errors(path: str, operation: dict) -> set[str]:
    expected = {"401", "429", "503"}
    if "{" in path:
        expected.add("404")
    if "requestBody" in operation:
        expected |= {"400", "413", "415"}
    if any(p["in"] == "query" for p in operation.get("parameters", [])):
        expected.add("400")
    return expected


def test_every_operation_documents_its_errors_with_the_error_component(schema):
    operations = list(_operations(schema))
    assert len(operations) > 30
    for method, path, operation in operations:
        responses = operation["responses"]
        missing = _expected_errors(path, operation) - set(responses)
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
        for code, response in responses.items():
            if int(code) >= 400:
                assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (method, path, code)
    by_operation = {(m, p): set(op["responses"]) for m, p, op in operations}
    assert "409" in by_operation[SEND] and "409" in by_operation[("patch", "/api/v1/messages/{message_id}")]
    assert {"409", "502", "504"} <= by_operation[("post", "/api/v1/connections/{connection_id}/contacts/check")]
    assert "409" in by_operation[("post", "/api/v1/deliveries/{id}/replay")]


def _path(path: str, world: World) -> str:
    values = {
        "connection_id": world.connection_id,
        "message_id": world.outbound_message_id,
        "jid": world.chat_jid,
        "media_id": world.media_id,
        "id": world.delivery_id if path.startswith("/api/v1/deliveries") else world.endpoint_id,
    }
    return re.sub(r"{(\w+)}", lambda match: str(values[match.group(1)]), path)


def test_a_body_in_an_undeclared_content_type_is_refused_with_415(schema, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.WILDCAT_SESSION_CALL_TIMEOUT = settings.WILDCAT_COMMAND_WAIT_SECONDS = 0.2
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    world = build_world("a", "4915100000001")
    bodies = [(m, p, op["requestBody"]["content"]) for m, p, op in _operations(schema) if "requestBody" in op]
    assert len(bodies) >= len(JSON_ONLY) + 1
    for method, path, content in bodies:
        call = getattr(world.client, method)
        undeclared = [("multipart", "multipart/form-data"), (None, "application/x-www-form-urlencoded")]
        for encoding, media_type in undeclared:
            if media_type in content:
                continue
            if encoding:
                response = call(_path(path, world), {"text": "x"}, format=encoding)
            else:
                response = call(_path(path, world), "text=x", content_type=media_type)
            assert response.status_code == 415, (method, path, media_type, response.content)
            assert response.json()["error"]["code"] == "unsupported_media_type"
