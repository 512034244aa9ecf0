"""OpenAPI schema extensions: how API-key authentication appears in /api/schema/."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
