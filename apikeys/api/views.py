"""GET /api/v1/me: who am I, as far as the API is concerned."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.selectors import apikey_usage


class UsageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    usage = UsageSerializer()


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The calling API key")
    def get(self, request: Request) -> Response:
        api_key = request.auth
        # No query and no serializer pass: this is the hottest endpoint. request.auth mirrors the
        # key's cached record, and DRF's JSON encoder writes datetimes exactly as MeSerializer
        # documents them (ISO 8601, "Z" for UTC).
        return Response(
            {
                "id": api_key.pk,
                "label": api_key.label,
                "prefix": api_key.token_prefix,
                "created_at": api_key.created_at,
                "usage": apikey_usage(api_key=api_key),
            }
        )
