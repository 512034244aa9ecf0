"""OpenAPI schema: the error shape, the error statuses every operation documents, and API-key authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

# What each error status means, as a typed client's documentation shows it.
ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `error.details` names each field.",
    401: "No API key, or not a valid one.",
    404: "No such object for this API key.",
    409: "The object's current state does not allow this.",
    413: "The request body or its media is too large.",
    415: "The body is not sent as one of the content types this operation declares.",
    429: "Too many requests; wait `Retry-After` seconds.",
    502: "WhatsApp refused the request.",
    503: "A service Wildcat depends on is unavailable; try again shortly.",
    504: "The WhatsApp session did not answer in time.",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape: the `Error` component of every 4xx and 5xx response."""

    error = ErrorDetailSerializer()


class ApiAutoSchema(AutoSchema):
    """Adds to each operation every error status it can answer, all with the `Error` component.

    Views declare only the statuses that depend on what they do (409, 502, 504); the statuses that
    follow from the operation's shape are added here, so no operation can forget one.
    """

    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for code in self._error_statuses(operation) | {int(code) for code in responses if int(code) >= 400}:
            response = responses.setdefault(str(code), {})
            if not response.get("description"):
                response["description"] = ERROR_DESCRIPTIONS.get(code, "An error.")
            response["content"] = {"application/json": {"schema": error_ref}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict) -> set[int]:
        statuses = {503}
        parameters = operation.get("parameters", [])
        path_parameters = [p for p in parameters if p["in"] == "path"]
        if self._requires_key():
            statuses.add(401)
        if self.view.get_throttles():
            statuses.add(429)
        if path_parameters:
            statuses.add(404)
        # A string path parameter (a chat JID) is validated by the view; integer ones by the URL.
        if any(p["schema"].get("type") == "string" for p in path_parameters):
            statuses.add(400)
        if any(p["in"] in ("query", "header") for p in parameters):
            statuses.add(400)
        if "requestBody" in operation:
            statuses.update({400, 413, 415})
        return statuses

    def _requires_key(self) -> bool:
        permissions = self.view.get_permissions()
        return bool(self.view.get_authenticators()) and not all(isinstance(p, AllowAny) for p in permissions)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema) -> list[dict]:
        # Either header authenticates: one requirement per scheme means "or" in OpenAPI.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema) -> list[dict]:
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer wc_live_…"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]
