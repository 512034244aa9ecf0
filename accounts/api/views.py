"""The connections API: create, list, QR, pairing code, lifecycle actions, timeline and the sandbox phone."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.models import SessionCommand, WaConnection
from accounts.qr import qr_data_url, qr_png
from accounts.session_commands import session_command_wait
from wildcat.api.pagination import CreatedCursorPagination
from wildcat.api.parsers import JsonObjectParser
from wildcat.api.schema import ErrorSerializer
from wildcat.errors import AppError, ErrorCode, not_found

# The connections API reads JSON objects only: a form cannot say null, and there are no uploads here.
JSON_ONLY = [JsonObjectParser]

Status = WaConnection.Status
# Every endpoint can answer 401 (no or bad key) and 429 (throttled), in the one error shape.
COMMON = {401: ErrorSerializer, 415: ErrorSerializer, 429: ErrorSerializer}
ERRORS = {400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **COMMON}
NOT_FOUND = {404: ErrorSerializer, **COMMON}


def _no_qr_code() -> AppError:
    message = "There is no QR code to show: the connection is not waiting for a scan, or the code expired."
    return AppError(ErrorCode.NO_QR, message)


def _connection(request: Request, connection_id: int) -> WaConnection:
    return selectors.connection_get(api_key_id=request.auth.pk, connection_id=connection_id)


def _command_response(command: SessionCommand) -> Response:
    """Wait a little for the session's answer: 200 with it, 409 if it failed, 202 if it is still on its way."""
    command = session_command_wait(command_id=command.pk, timeout=settings.WILDCAT_COMMAND_WAIT_SECONDS)
    if command is None:
        raise not_found()  # deleted while the command ran
    body = {"command": s.SessionCommandSerializer(command).data, "result": None}
    if command.status == SessionCommand.Status.DONE:
        body["result"] = command.result
        return Response(body, status=status.HTTP_200_OK)
    if command.status == SessionCommand.Status.FAILED:
        # The command was refused in the connection's current state: a conflict, as README documents.
        raise AppError(ErrorCode.SESSION_ERROR, f"The session could not do it: {command.error}", http_status=409)
    return Response(body, status=status.HTTP_202_ACCEPTED)


COMMAND_RESPONSES = {
    200: OpenApiResponse(s.CommandResultSerializer, description="The session answered in time."),
    202: OpenApiResponse(s.CommandResultSerializer, description="Queued or running; the session has not answered yet."),
    **ERRORS,
}


class ConnectionListView(ListAPIView):
    parser_classes = JSON_ONLY
    serializer_class = s.ConnectionSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        return selectors.connection_list(api_key_id=self.request.auth.pk)

    @extend_schema(
        summary="List your connections",
        responses={200: s.ConnectionSerializer(many=True), 400: ErrorSerializer, **COMMON},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a connection (stopped; start it to get a QR code)",
        request=s.ConnectionCreateSerializer,
        responses={201: s.ConnectionSerializer, 400: ErrorSerializer, 409: ErrorSerializer, **COMMON},
    )
    def post(self, request: Request) -> Response:
        incoming = s.ConnectionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        connection = services.connection_create(api_key_id=request.auth.pk, **incoming.validated_data)
        return Response(s.ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(summary="One connection", responses={200: s.ConnectionSerializer, **NOT_FOUND})
    def get(self, request: Request, connection_id: int) -> Response:
        return Response(s.ConnectionSerializer(_connection(request, connection_id)).data)

    @extend_schema(
        summary="Change a connection's settings (presence)",
        request=s.ConnectionUpdateSerializer,
        responses={200: s.ConnectionSerializer, 400: ErrorSerializer, **NOT_FOUND},
    )
    def patch(self, request: Request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        incoming = s.ConnectionUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        connection = services.connection_update(connection=connection, **incoming.validated_data)
        return Response(s.ConnectionSerializer(connection).data)

    @extend_schema(
        summary="Delete a connection: log out, stop, and delete its session data",
        responses={
            204: OpenApiResponse(description="Deleted."),
            202: OpenApiResponse(
                s.ActionResultSerializer, description="Its session is logging out; the connection goes right after."
            ),
            **NOT_FOUND,
        },
    )
    def delete(self, request: Request, connection_id: int) -> Response:
        command = services.connection_delete(connection=_connection(request, connection_id))
        if command is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        connection = WaConnection.objects.filter(pk=connection_id).first()
        if connection is None:  # the logout finished just now
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = {
            "connection": s.ConnectionSerializer(connection).data,
            "command": s.SessionCommandSerializer(command).data,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ConnectionQrView(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(
        summary="The current QR code (JSON with a PNG data URL)",
        responses={200: s.QrSerializer, 404: ErrorSerializer, 409: ErrorSerializer, **COMMON},
    )
    def get(self, request: Request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        qr = selectors.connection_current_qr(connection)
        if qr is None:
            raise _no_qr_code()
        return Response({"qr": qr, "png": qr_data_url(qr), "expires_at": connection.qr_expires_at})


class PngRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ConnectionQrPngView(APIView):
    parser_classes = JSON_ONLY
    renderer_classes = [PngRenderer, JSONRenderer]

    @extend_schema(
        summary="The current QR code as a PNG image",
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The QR code."),
            (404, "application/json"): ErrorSerializer,
            (409, "application/json"): ErrorSerializer,
            (401, "application/json"): ErrorSerializer,
            (429, "application/json"): ErrorSerializer,
        },
    )
    def get(self, request: Request, connection_id: int) -> HttpResponse:
        connection = _connection(request, connection_id)
        qr = selectors.connection_current_qr(connection)
        if qr is None:
            raise _no_qr_code()
        response = HttpResponse(qr_png(qr), content_type="image/png")
        response["Cache-Control"] = "no-store"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever the client accepted.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class PairCodeView(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(
        summary="Ask for an 8-character pairing code for a phone number (instead of scanning the QR)",
        request=s.PairCodeRequestSerializer,
        responses=COMMAND_RESPONSES,
    )
    def post(self, request: Request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        incoming = s.PairCodeRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        command = services.connection_request_pair_code(connection=connection, phone=incoming.validated_data["phone"])
        return _command_response(command)


class _ActionView(APIView):
    parser_classes = JSON_ONLY
    action_name = ""

    def act(self, connection: WaConnection) -> SessionCommand | None:
        raise NotImplementedError

    def post(self, request: Request, connection_id: int) -> Response:
        command = self.act(_connection(request, connection_id))
        if command is not None and self.action_name in ("logout",):
            command = session_command_wait(command_id=command.pk, timeout=settings.WILDCAT_COMMAND_WAIT_SECONDS)
        connection = _connection(request, connection_id)
        body = {
            "connection": s.ConnectionSerializer(connection).data,
            "command": s.SessionCommandSerializer(command).data if command is not None else None,
        }
        finished = command is None or command.status in (SessionCommand.Status.DONE, SessionCommand.Status.FAILED)
        return Response(body, status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)


ACTION_RESPONSES = {
    200: OpenApiResponse(s.ActionResultSerializer, description="Done."),
    202: OpenApiResponse(s.ActionResultSerializer, description="Accepted; the session carries it out shortly."),
    404: ErrorSerializer,
    409: ErrorSerializer,
    **COMMON,
}


class StartView(_ActionView):
    action_name = "start"

    @extend_schema(
        summary="Start the session (a QR code follows, or it resumes)", request=None, responses=ACTION_RESPONSES
    )
    def post(self, request: Request, connection_id: int) -> Response:
        return super().post(request, connection_id)

    def act(self, connection: WaConnection) -> None:
        services.connection_start(connection=connection)


class StopView(_ActionView):
    action_name = "stop"

    @extend_schema(summary="Stop the session and keep its credentials", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, connection_id: int) -> Response:
        return super().post(request, connection_id)

    def act(self, connection: WaConnection) -> None:
        services.connection_stop(connection=connection)


class RestartView(_ActionView):
    action_name = "restart"

    @extend_schema(summary="Restart the running session from its credentials", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, connection_id: int) -> Response:
        return super().post(request, connection_id)

    def act(self, connection: WaConnection) -> SessionCommand:
        return services.connection_restart(connection=connection)


class LogoutView(_ActionView):
    action_name = "logout"

    @extend_schema(
        summary="Log out: unlink the phone and forget the credentials", request=None, responses=ACTION_RESPONSES
    )
    def post(self, request: Request, connection_id: int) -> Response:
        return super().post(request, connection_id)

    def act(self, connection: WaConnection) -> SessionCommand | None:
        return services.connection_logout(connection=connection)


class ConnectionEventsView(ListAPIView):
    parser_classes = JSON_ONLY
    serializer_class = s.ConnectionEventSerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        return selectors.connection_events(api_key_id=self.request.auth.pk, connection_id=self.kwargs["connection_id"])

    @extend_schema(
        summary="The connection's timeline, newest first",
        responses={200: s.ConnectionEventSerializer(many=True), 400: ErrorSerializer, **NOT_FOUND},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


# --- the sandbox phone ---------------------------------------------------------------------
class _SandboxView(APIView):
    """Operations on the simulated phone; a neonize connection has no such phone (404)."""

    parser_classes = JSON_ONLY
    op = ""
    input_serializer: type[s.serializers.Serializer] = s.EmptySerializer

    def post(self, request: Request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        if connection.driver != WaConnection.Driver.SANDBOX:
            raise not_found()  # only sandbox connections have a sandbox phone
        incoming = self.input_serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        args = {k: v for k, v in incoming.validated_data.items() if v not in (None, "")}
        command = services.sandbox_call_create(connection=connection, op=self.op, args=args)
        return _command_response(command)


def _sandbox_view(name: str, op: str, serializer, summary: str) -> type[_SandboxView]:
    @extend_schema(summary=summary, request=serializer, responses=COMMAND_RESPONSES, tags=["sandbox"])
    def post(self, request: Request, connection_id: int) -> Response:
        return _SandboxView.post(self, request, connection_id)

    return type(name, (_SandboxView,), {"op": op, "input_serializer": serializer, "post": post})


SandboxScanView = _sandbox_view(
    "SandboxScanView",
    "scan",
    s.SandboxScanSerializer,
    "Sandbox: the phone scans the QR code (or enters the pairing code)",
)
InjectMessageView = _sandbox_view(
    "InjectMessageView", "inject_message", s.InjectMessageSerializer, "Sandbox: someone writes to the phone"
)
InjectDisconnectView = _sandbox_view(
    "InjectDisconnectView",
    "inject_disconnect",
    s.InjectDisconnectSerializer,
    "Sandbox: drop the connection (it reconnects by itself)",
)
InjectLogoutView = _sandbox_view(
    "InjectLogoutView", "inject_logout", s.EmptySerializer, "Sandbox: the user unlinks the device on the phone"
)
InjectBanView = _sandbox_view(
    "InjectBanView", "inject_ban", s.InjectBanSerializer, "Sandbox: WhatsApp bans the number for a while"
)
