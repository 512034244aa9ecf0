"""Message endpoints: send, history, one message, edit, revoke, media download, chats and session calls."""

from __future__ import annotations

from django.http import FileResponse, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import connection_get
from messaging import selectors, services, session_calls
from messaging.api.serializers import (
    ChatSerializer,
    ContactsCheckSerializer,
    EditSerializer,
    HistoryFilterSerializer,
    MessageSerializer,
    PresenceSerializer,
    SendJsonSerializer,
    SendUploadSerializer,
    fast_text_request,
)
from messaging.media import media_file_response
from messaging.payloads import message_payload
from messaging.recipients import recipient_to_jid
from wildcat.api.parsers import JsonObjectParser
from wildcat.api.schema import ErrorSerializer
from wildcat.errors import AppError, invalid_request
from wildcat.phones import phone_digits

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# The API's words for presence, and WhatsApp's chat-state names the drivers take.
PRESENCE_STATES = {"typing": "composing", "recording": "recording", "paused": "paused"}
# The statuses an operation documents beyond those its shape implies (wildcat.api.schema adds those).
CONFLICT = {409: ErrorSerializer}
# A call answered by the live session: 409 when none is ready, 502 when WhatsApp refuses, 504 on timeout.
SESSION_ERRORS = {409: ErrorSerializer, 502: ErrorSerializer, 504: ErrorSerializer}


def _idempotency_key(request: Request) -> str:
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        details = {IDEMPOTENCY_HEADER: [f"At most {MAX_IDEMPOTENCY_KEY} printable characters."]}
        raise invalid_request(details)
    return key


def _body_parts(request: Request) -> dict:
    data = request.data
    if isinstance(data, QueryDict):
        return {name: data.getlist(name) for name in data if name != "file"}
    return dict(data)


def _chat_jid(value: str) -> str:
    try:
        return recipient_to_jid(value)
    except AppError as exc:
        raise invalid_request({"jid": [exc.message]})


@extend_schema_view(get=extend_schema(parameters=[HistoryFilterSerializer], summary="Message history, newest first"))
class ConnectionMessagesView(generics.ListAPIView):
    """GET: history with filters (cursor-paginated). POST: queue a message (202)."""

    serializer_class = MessageSerializer

    def get_queryset(self):
        filters = HistoryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        values = dict(filters.validated_data)
        connection = connection_get(api_key_id=self.request.auth.pk, connection_id=self.kwargs["connection_id"])
        chat = values.pop("chat", "")
        return selectors.message_list(
            api_key_id=self.request.auth.pk, connection_id=connection.pk, chat_jid=chat, **values
        )

    # Uploads come as multipart; everything else is a JSON object. Each has its own component.
    parser_classes = [JsonObjectParser, MultiPartParser]

    @extend_schema(
        request={"application/json": SendJsonSerializer, "multipart/form-data": SendUploadSerializer},
        responses={202: MessageSerializer, **CONFLICT},
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
        summary="Send a message",
    )
    def post(self, request: Request, connection_id: int) -> Response:
        key = _idempotency_key(request)
        upload = isinstance(request.data, QueryDict)
        send = None if upload else fast_text_request(request.data)
        if send is None:
            serializer = (SendUploadSerializer if upload else SendJsonSerializer)(data=request.data)
            serializer.is_valid(raise_exception=True)
            send = serializer.to_send_request()
        body_hash = services.request_hash(_body_parts(request), send.media_bytes) if key else ""
        body, replayed = services.message_send(
            api_key_id=request.auth.pk,
            connection_id=connection_id,
            request=send,
            idempotency_key=key,
            body_hash=body_hash,
        )
        response = Response(body, status=202)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class MessageDetailView(APIView):
    @extend_schema(responses=MessageSerializer, summary="One message")
    def get(self, request: Request, message_id: int) -> Response:
        return Response(message_payload(selectors.message_get(api_key_id=request.auth.pk, message_id=message_id)))

    @extend_schema(
        request=EditSerializer, responses={200: MessageSerializer, **CONFLICT}, summary="Edit a sent text message"
    )
    def patch(self, request: Request, message_id: int) -> Response:
        message = selectors.message_get(api_key_id=request.auth.pk, message_id=message_id)
        serializer = EditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        edited = services.message_edit(message=message, text=serializer.validated_data["text"])
        return Response(message_payload(edited))

    @extend_schema(
        responses={200: MessageSerializer, **CONFLICT}, summary="Revoke a message for everyone (or cancel a queued one)"
    )
    def delete(self, request: Request, message_id: int) -> Response:
        message = selectors.message_get(api_key_id=request.auth.pk, message_id=message_id)
        return Response(message_payload(services.message_revoke(message=message)))


class MediaDownloadView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes}, summary="Download a media file")
    def get(self, request: Request, media_id: int) -> FileResponse:
        return media_file_response(selectors.media_get(api_key_id=request.auth.pk, media_id=media_id))


@extend_schema_view(get=extend_schema(responses=ChatSerializer(many=True), summary="Chats, newest first"))
class ChatListView(generics.ListAPIView):
    """The newest message of every chat, newest chats first."""

    serializer_class = MessageSerializer

    def get_queryset(self):
        connection = connection_get(api_key_id=self.request.auth.pk, connection_id=self.kwargs["connection_id"])
        return selectors.chat_list(api_key_id=self.request.auth.pk, connection_id=connection.pk)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        chats = [{"chat_jid": m.chat_jid, "last_message": message_payload(m)} for m in page]
        return self.get_paginated_response(chats)


class ChatReadView(APIView):
    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT, **SESSION_ERRORS},
        summary="Mark a chat read (sends read receipts)",
    )
    def post(self, request: Request, connection_id: int, jid: str) -> Response:
        connection = connection_get(api_key_id=request.auth.pk, connection_id=connection_id)
        marked = services.chat_mark_read(connection=connection, chat_jid=_chat_jid(jid))
        return Response({"chat_jid": _chat_jid(jid), "marked": marked})


class ChatPresenceView(APIView):
    @extend_schema(
        request=PresenceSerializer,
        responses={200: OpenApiTypes.OBJECT, **SESSION_ERRORS},
        summary="Show typing / recording / paused in a chat",
    )
    def post(self, request: Request, connection_id: int, jid: str) -> Response:
        connection = connection_get(api_key_id=request.auth.pk, connection_id=connection_id)
        serializer = PresenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        chat = _chat_jid(jid)
        state = serializer.validated_data["state"]
        session_calls.session_call(
            connection_id=connection.pk, op="send_presence", args={"chat_jid": chat, "state": PRESENCE_STATES[state]}
        )
        return Response({"chat_jid": chat, "state": state})


class ContactsCheckView(APIView):
    @extend_schema(
        request=ContactsCheckSerializer,
        responses={200: OpenApiTypes.OBJECT, **SESSION_ERRORS},
        summary="Which numbers are on WhatsApp",
    )
    def post(self, request: Request, connection_id: int) -> Response:
        connection = connection_get(api_key_id=request.auth.pk, connection_id=connection_id)
        serializer = ContactsCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        valid: list[str] = []
        results: list[dict] = []
        for number in serializer.validated_data["numbers"]:
            try:
                valid.append(phone_digits(number))
            except AppError:
                results.append({"number": number, "valid": False, "on_whatsapp": False, "jid": None})
        if valid:
            answer = session_calls.session_call(
                connection_id=connection.pk, op="check_numbers", args={"numbers": valid}
            )
            results = [{"valid": True, **row} for row in answer.get("results", [])] + results
        return Response({"results": results})


class GroupListView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **SESSION_ERRORS}, summary="The groups this connection belongs to"
    )
    def get(self, request: Request, connection_id: int) -> Response:
        connection = connection_get(api_key_id=request.auth.pk, connection_id=connection_id)
        answer = session_calls.session_call(connection_id=connection.pk, op="list_groups", args={})
        return Response({"results": answer.get("results", [])})


class GroupDetailView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **SESSION_ERRORS},
        operation_id="v1_connections_group_retrieve",
        summary="One group with its members",
    )
    def get(self, request: Request, connection_id: int, jid: str) -> Response:
        connection = connection_get(api_key_id=request.auth.pk, connection_id=connection_id)
        group = _chat_jid(jid)
        if not group.endswith("@g.us"):
            raise invalid_request({"jid": ["Not a group JID (…@g.us)."]})
        return Response(
            session_calls.session_call(connection_id=connection.pk, op="group_info", args={"group_jid": group})
        )
