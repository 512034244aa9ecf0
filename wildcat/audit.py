"""Recording audit entries, with the acting admin user and client IP taken from the current request."""

from __future__ import annotations

import contextvars
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse

from wildcat.models import AuditEntry

logger = logging.getLogger("wildcat.audit")

_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("audit_request", default=None)


def audit_record(
    *,
    action: str,
    actor_key_id: int | None = None,
    actor_user_id: int | None = None,
    target_type: str = "",
    target_id: str | int = "",
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
):
    """Insert one audit entry (inside the caller's transaction, so it stands or falls with the change).

    When called during a request, a missing ``ip`` is the peer address, a missing ``actor_user_id``
    the signed-in admin user and a missing ``actor_key_id`` the API key the request authenticated with.
    """
    if action not in AuditEntry.Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    request = _current_request.get()
    if request is not None:
        ip = ip or client_ip(request)
        actor_user_id = actor_user_id or _signed_in_user_id(request)
        actor_key_id = actor_key_id or _calling_key_id(request)
    return AuditEntry.objects.create(
        action=action,
        actor_key_id=actor_key_id,
        actor_user_id=actor_user_id,
        target_type=target_type[:64],
        target_id=str(target_id)[:64],
        ip=_valid_ip(ip),
        detail=detail or {},
    )


def client_ip(request: HttpRequest) -> str | None:
    """The peer address only: X-Forwarded-For is caller-controlled (a proxy sets REMOTE_ADDR right)."""
    return _valid_ip(request.META.get("REMOTE_ADDR"))


def _valid_ip(raw: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(raw or ""))
    except ValueError:
        return None


def _signed_in_user_id(request: HttpRequest) -> int | None:
    # Only a session user (the admin) counts: on API requests DRF puts the ApiKey in request.user.
    user = getattr(request, "user", None)
    if not isinstance(user, get_user_model()) or not user.is_authenticated:
        return None
    return user.pk


def _calling_key_id(request: HttpRequest) -> int | None:
    # DRF copies the authentication result onto the Django request it wraps.
    api_key = getattr(request, "auth", None)
    return api_key.pk if isinstance(api_key, apps.get_model("apikeys", "ApiKey")) else None


class AuditContextMiddleware:
    """Make the current request visible to audit_record, which services call without a request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


# --- admin sign-ins (connected in WildcatConfig.ready) ---------------------------------------
def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(
        action="admin.login",
        actor_user_id=user.pk,
        target_type="user",
        target_id=user.pk,
        ip=client_ip(request) if request is not None else None,
        detail={"username": user.get_username()},
    )


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    # Django has already masked the password in ``credentials``; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        action="admin.login_failed",
        target_type="user",
        target_id=username[:64],
        ip=client_ip(request) if request is not None else None,
        detail={"username": username},
    )
