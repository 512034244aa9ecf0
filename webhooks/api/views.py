"""Webhook endpoints API: CRUD, secret rotation, test events, deliveries and replays, all per key."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webhooks import selectors, services
from webhooks.api.serializers import (
    EVENT_TYPE_CHOICES,
    DeliveryDetailSerializer,
    DeliveryFilterSerializer,
    DeliverySerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EndpointWriteSerializer,
    EventTypeSerializer,
    ReplayedSerializer,
    ReplaySinceSerializer,
)
from webhooks.catalog import catalogue
from webhooks.models import WebhookDelivery
from wildcat.api.schema import ErrorSerializer
from wildcat.errors import AppError, ErrorCode

TAGS = ["webhooks"]
DISABLED = {409: OpenApiResponse(ErrorSerializer, description="The endpoint is disabled; enable it first.")}


class EndpointListView(generics.ListAPIView):
    """GET: this key's endpoints (cursor-paginated). POST: register one; the secret is in this response only."""

    serializer_class = EndpointSerializer

    def get_queryset(self):
        return selectors.endpoints_for_key(api_key_id=self.request.auth.pk)

    @extend_schema(tags=TAGS, summary="List webhook endpoints")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Register a webhook endpoint",
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer},
    )
    def post(self, request: Request) -> Response:
        form = EndpointWriteSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(api_key_id=request.auth.pk, **form.validated_data)
        endpoint.secret = secret
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(APIView):
    def _endpoint(self, request: Request, pk: int):
        return selectors.endpoint_get(api_key_id=request.auth.pk, endpoint_id=pk)

    @extend_schema(tags=TAGS, summary="One webhook endpoint", responses=EndpointSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(self._endpoint(request, pk)).data)

    @extend_schema(
        tags=TAGS, summary="Change a webhook endpoint", request=EndpointUpdateSerializer, responses=EndpointSerializer
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = self._endpoint(request, pk)
        form = EndpointUpdateSerializer(data=request.data, partial=True, context={"request": request})
        form.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, **form.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(tags=TAGS, summary="Delete a webhook endpoint", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.endpoint_delete(endpoint=self._endpoint(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Rotate the signing secret",
        description="Returns the new secret once. The old one keeps signing (a second signature) for the grace "
        "period, so receivers can switch without losing events.",
        request=None,
        responses=EndpointWithSecretSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = selectors.endpoint_get(api_key_id=request.auth.pk, endpoint_id=pk)
        secret = services.endpoint_rotate_secret(endpoint=endpoint)
        endpoint.secret = secret
        return Response(EndpointWithSecretSerializer(endpoint).data)


def _enabled(endpoint) -> None:
    if not endpoint.enabled:
        raise AppError(ErrorCode.CONFLICT, f"The endpoint is disabled ({endpoint.disabled_reason}); enable it first.")


class TestEventView(APIView):
    @extend_schema(
        tags=TAGS, summary="Send a webhook.test event", request=None, responses={202: DeliverySerializer, **DISABLED}
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = selectors.endpoint_get(api_key_id=request.auth.pk, endpoint_id=pk)
        _enabled(endpoint)
        delivery = services.endpoint_send_test(endpoint=endpoint)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EndpointReplayView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Replay failed and exhausted deliveries since a time",
        request=ReplaySinceSerializer,
        responses={202: ReplayedSerializer, **DISABLED},
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = selectors.endpoint_get(api_key_id=request.auth.pk, endpoint_id=pk)
        form = ReplaySinceSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        _enabled(endpoint)
        count = services.endpoint_replay_since(endpoint=endpoint, since=form.validated_data["since"])
        return Response({"replayed": count}, status=status.HTTP_202_ACCEPTED)


class EndpointDeliveriesView(generics.ListAPIView):
    serializer_class = DeliverySerializer

    def get_queryset(self):
        endpoint = selectors.endpoint_get(api_key_id=self.request.auth.pk, endpoint_id=self.kwargs["pk"])
        filters = DeliveryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.deliveries_for_endpoint(
            endpoint=endpoint,
            status=filters.validated_data.get("status"),
            event_type=filters.validated_data.get("type"),
        )

    @extend_schema(
        tags=TAGS,
        summary="Deliveries of an endpoint",
        parameters=[
            OpenApiParameter("status", str, enum=[value for value, _ in WebhookDelivery.Status.choices]),
            OpenApiParameter("type", str, enum=EVENT_TYPE_CHOICES, description="Event type"),
        ],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class DeliveryDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One delivery with its attempts", responses=DeliveryDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        delivery = selectors.delivery_get(api_key_id=request.auth.pk, delivery_id=pk)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Send a delivery again (same webhook-id)",
        request=None,
        responses={
            202: DeliverySerializer,
            409: OpenApiResponse(ErrorSerializer, description="The endpoint is disabled, or an attempt is running."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        delivery = selectors.delivery_get(api_key_id=request.auth.pk, delivery_id=pk)
        _enabled(delivery.endpoint)
        if delivery.status == WebhookDelivery.Status.SENDING:
            raise AppError(
                ErrorCode.CONFLICT, "The delivery is being sent right now; replay it once this attempt ends."
            )
        delivery = services.delivery_replay(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventTypesView(APIView):
    @extend_schema(tags=TAGS, summary="Event types and their payload schemas", responses=EventTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(catalogue())
