"""A test-only URL map: the real site plus tiny API views that fail in each documented way."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from wildcat.errors import AppError, ErrorCode

handler404 = "wildcat.views.not_found"
handler500 = "wildcat.views.server_error"
LEAKY_SECRET = "stack-trace-marker-do-not-leak"


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=5)


class EchoView(APIView):
    """POST reads the body (400, 413, 415 come from here); GET only (405 for anything else)."""

    def post(self, request: Request) -> Response:
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class OpenEchoView(EchoView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class FailingView(APIView):
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind")
        if kind == "forbidden":
            raise PermissionDenied
        if kind == "conflict":
            raise AppError(ErrorCode.CONFLICT, "That name is taken.")
        if kind == "limit":
            raise AppError(ErrorCode.LIMIT_EXCEEDED, "Too many connections for this key.")
        if kind == "app_error":
            raise AppError(ErrorCode.NO_QR, "There is no QR code to show.", {"hint": "start it"})
        if kind == "too_large":
            raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")
        raise RuntimeError(LEAKY_SECRET)


def plain_django_crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(LEAKY_SECRET)


urlpatterns = [
    path("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/open-echo", OpenEchoView.as_view()),
    path("api/v1/test/fail", FailingView.as_view()),
    path("api/v1/test/plain-crash", plain_django_crash),
    path("site/plain-crash", plain_django_crash),
    path("", include("wildcat.urls")),
]
