"""The admin's connection page: which actions apply now, its timeline entries and detail values, and its two forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db import models
from django.utils import formats, timezone
from django.utils.timesince import timesince

from accounts.models import ConnectionEvent, WaConnection
from accounts.states import LINKED_STATUSES
from wildcat.errors import AppError
from wildcat.phones import EXAMPLE, phone_e164

Status = WaConnection.Status
RUNNING = WaConnection.DesiredState.RUNNING


def actions_available(connection: WaConnection) -> dict[str, bool]:
    """Which buttons make sense in the connection's current state (the services still decide)."""
    running = connection.desired_state == RUNNING
    return {
        "start": not running,
        "stop": running,
        "restart": running,
        "logout": connection.status in LINKED_STATUSES,
        "scan": running and connection.status == Status.PENDING,
        "pair_code": running and connection.status in (Status.PENDING, Status.NOT_STARTED, Status.DISCONNECTED),
    }


# Icon per timeline entry: state changes by the status they reach, everything else by its kind.
_STATE_ICONS = {
    Status.NOT_STARTED: "circle",
    Status.PENDING: "qr",
    Status.AUTHENTICATED: "key",
    Status.READY: "check",
    Status.AUTH_FAILED: "cross",
    Status.DISCONNECTED: "plug",
    Status.LOGGED_OUT: "exit",
}
_KIND_ICONS = {
    ConnectionEvent.Kind.QR: "qr",
    ConnectionEvent.Kind.PAIR_CODE: "hash",
    ConnectionEvent.Kind.ERROR: "alert",
    ConnectionEvent.Kind.DISCONNECT: "plug",
    ConnectionEvent.Kind.RESTART: "restart",
    ConnectionEvent.Kind.OWNER: "server",
    ConnectionEvent.Kind.CRASH: "alert",
    ConnectionEvent.Kind.COMMAND: "play",
}
_TONES = {"check": "good", "key": "good", "alert": "bad", "cross": "bad", "plug": "warn", "exit": "warn"}


def _title(event: ConnectionEvent) -> str:
    detail = event.detail or {}
    if event.kind == ConnectionEvent.Kind.STATE:
        if detail.get("created"):
            return "Created"
        return Status(event.to_status).label if event.to_status in Status.values else event.to_status
    if event.kind == ConnectionEvent.Kind.COMMAND and detail.get("action"):
        return f"{str(detail['action']).capitalize()} requested"
    return event.get_kind_display()


def _owner_summary(detail: dict[str, Any]) -> str:
    if detail.get("to"):
        note = " (the previous owner's lease had expired)" if detail.get("previous_expired") else ""
        return f"taken by {detail['to']}{note}"
    reason = f": {detail['reason']}" if detail.get("reason") else ""
    return f"released by {detail.get('from') or 'its owner'}{reason}"


def _summary(event: ConnectionEvent) -> str:
    """The detail as one readable line: reasons and errors first, then the rest as key: value."""
    detail = dict(event.detail or {})
    if event.kind == ConnectionEvent.Kind.QR and detail.get("expires_in"):
        return f"valid for {float(detail['expires_in']):g} s"
    if event.kind == ConnectionEvent.Kind.OWNER:
        return _owner_summary(detail)
    for noise in ("created", "action", "expires_at", "previous_expired"):
        detail.pop(noise, None)
    parts = []
    if event.kind == ConnectionEvent.Kind.STATE and event.from_status:
        parts.append(f"{event.from_status} → {event.to_status}")
    for key in ("reason", "error"):
        if detail.get(key):
            parts.append(str(detail.pop(key)))
    parts.extend(f"{key}: {value}" for key, value in detail.items() if value not in (None, "", {}, [], False))
    return " · ".join(parts)[:300]


def timeline_entry(event: ConnectionEvent, *, now=None) -> dict[str, Any]:
    """What the page shows for one timeline row, the same for the first render and the live updates."""
    icon = _STATE_ICONS.get(event.to_status, "circle") if event.kind == ConnectionEvent.Kind.STATE else None
    icon = icon or _KIND_ICONS.get(event.kind, "circle")
    return {
        "id": event.pk,
        "kind": event.get_kind_display(),
        "kind_code": event.kind,
        "icon": icon,
        "tone": _TONES.get(icon, "neutral"),
        "title": _title(event),
        "summary": _summary(event),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "detail": event.detail,
        "created_at": event.created_at.isoformat(),
        "ago": timesince(event.created_at, now or timezone.now()).split(",")[0],
    }


def detail_values(connection: WaConnection, names: list[str]) -> dict[str, str]:
    """The detail fields as the admin shows them, so the page can keep them current without a reload."""
    values = {}
    for name in names:
        field = WaConnection._meta.get_field(name)
        if isinstance(field, models.ForeignKey):
            continue  # the owner key never changes
        value = getattr(connection, name)
        if isinstance(field, models.DateTimeField):
            value = formats.date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else ""
        elif field.choices:
            value = getattr(connection, f"get_{name}_display")()
        values[name] = str(value) if value not in (None, "") else "-"
    return values


def e164_or_error(value: str) -> str:
    """A phone number normalised to E.164, or the parser's explanation as a form error."""
    try:
        return phone_e164(value)
    except AppError as exc:
        raise forms.ValidationError(exc.message)


class PairCodeForm(forms.Form):
    phone = forms.CharField(max_length=32, label="Phone number", widget=forms.TextInput(attrs={"placeholder": EXAMPLE}))

    def clean_phone(self) -> str:
        return e164_or_error(self.cleaned_data["phone"])


class TestMessageForm(forms.Form):
    to = forms.CharField(max_length=32, label="To", widget=forms.TextInput(attrs={"placeholder": EXAMPLE}))
    text = forms.CharField(
        label="Text", widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Hello from Wildcat"}), strip=True
    )

    def clean_to(self) -> str:
        return e164_or_error(self.cleaned_data["to"])

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if len(text) > settings.WILDCAT_MAX_TEXT_LENGTH:
            raise forms.ValidationError(f"At most {settings.WILDCAT_MAX_TEXT_LENGTH} characters.")
        return text
