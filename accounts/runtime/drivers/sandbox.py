"""The sandbox phone: a simulated WhatsApp account that behaves like the real network, for tests and integrators.

It is cheap on purpose (no thread, a handful of slots per session) so one host can run hundreds:
every timer is a deadline compared against the ``now`` the host passes to ``tick``.

Magic numbers (documented in the README):
- a number whose digits start with 1555000 (``+1555000…``) is not on WhatsApp: sends fail with the
  permanent error ``not_on_whatsapp``, ``check_numbers`` says false, a pairing code is refused;
- ``call_scan`` links a fake phone ``+1555777`` + 4 digits unless a pairing code named a phone.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from accounts.models import SandboxCredential, SandboxDelivery
from accounts.runtime.drivers.base import SessionDriver
from wildcat.whatsapp import (
    AccountInfo,
    DriverError,
    DriverEvent,
    DriverEventType,
    InboundMessage,
    MediaPayload,
    MessageType,
    OutboundMessage,
    Receipt,
    ReceiptType,
    SendResult,
    generate_message_id,
)

NOT_ON_WHATSAPP_PREFIX = "1555000"
SCAN_PHONE_PREFIX = "1555777"
PAIR_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
PRESENCE_STATES = frozenset({"available", "unavailable", "composing", "recording", "paused"})
QR_TIMEOUT_REASON = "qr_timeout"
GROUPS_PER_ACCOUNT = 2

# Modes of the simulated socket.
STOPPED, SHOWING_QR, CONNECTING, ONLINE, OFFLINE, FAILED = range(6)


def _b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


def digits_of(jid_or_phone: str) -> str:
    """The phone digits of "+49 151…", "49151…" or "49151…@s.whatsapp.net"."""
    user = jid_or_phone.split("@", 1)[0].split(":", 1)[0].split(".", 1)[0]
    return "".join(ch for ch in user if ch.isdigit())


def is_on_whatsapp(jid_or_phone: str) -> bool:
    digits = digits_of(jid_or_phone)
    return 7 <= len(digits) <= 15 and not digits.startswith(NOT_ON_WHATSAPP_PREFIX)


class SandboxDriver(SessionDriver):
    """A simulated phone behind the SessionDriver interface; credentials and deliveries live in the database."""

    kind = "sandbox"
    sends_with_our_ids = True  # the simulated network keeps the id it is given, as WhatsApp's protocol allows
    __slots__ = ("_account", "_deadline", "_keepalive_at", "_keys", "_mode", "_pair_phone", "_qr_index", "_receipts")

    def __init__(self, *, connection_id: int, emit) -> None:
        super().__init__(connection_id=connection_id, emit=emit)
        self._mode = STOPPED
        self._deadline = 0.0  # when the current QR expires, or when the socket (re)connects
        self._qr_index = 0
        self._keys: str = ""
        self._receipts: list[tuple[float, str, str, str]] = []  # (due, receipt type, message id, chat)
        self._keepalive_at = 0.0
        self._account: AccountInfo | None = None
        self._pair_phone = ""

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        credential = SandboxCredential.objects.filter(connection_id=self.connection_id).first()
        now = time.monotonic()
        if credential is not None:
            self._account = _account_of(credential)
            self._connect_after(now, settings.WILDCAT_SANDBOX_CONNECT_SECONDS)
            return
        self._keys = ",".join((_b64(32), _b64(32), _b64(32)))
        self._qr_index = 0
        self._show_qr(now)

    def stop(self) -> None:
        self._mode = STOPPED
        self._receipts = []

    def logout(self) -> None:
        self.delete_session_data(deliveries=False)
        self._mode = STOPPED
        self._receipts = []
        self.emit(DriverEvent(type=DriverEventType.LOGGED_OUT, reason="logout"))

    def delete_session_data(self, *, deliveries: bool = True) -> None:
        SandboxCredential.objects.filter(connection_id=self.connection_id).delete()
        if deliveries:
            SandboxDelivery.objects.filter(connection_id=self.connection_id).delete()
        self._account = None

    def is_logged_in(self) -> bool:
        return self._account is not None and self._mode in (CONNECTING, ONLINE, OFFLINE)

    def request_pair_code(self, phone_digits: str) -> str:
        if self._mode != SHOWING_QR:
            raise DriverError("not_pending", "a pairing code can only be requested while logging in", permanent=True)
        if not is_on_whatsapp(phone_digits):
            raise DriverError("not_on_whatsapp", f"{phone_digits} is not on WhatsApp", permanent=True)
        self._pair_phone = digits_of(phone_digits)
        return "".join(secrets.choice(PAIR_CODE_ALPHABET) for _ in range(8))

    def tick(self, now: float) -> None:
        mode = self._mode
        if mode == SHOWING_QR and now >= self._deadline:
            self._next_qr(now)
        elif mode in (CONNECTING, OFFLINE) and now >= self._deadline:
            self._go_online(now)
        if self._mode == ONLINE:
            if self._receipts:
                self._emit_due_receipts(now)
            if now >= self._keepalive_at:
                self._keepalive_at = now + settings.WILDCAT_SANDBOX_KEEPALIVE_SECONDS
                self.emit(DriverEvent(type=DriverEventType.KEEPALIVE))

    # --- timers --------------------------------------------------------------------------
    def _show_qr(self, now: float) -> None:
        first = self._qr_index == 0
        lifetime = settings.WILDCAT_SANDBOX_QR_FIRST_SECONDS if first else settings.WILDCAT_SANDBOX_QR_NEXT_SECONDS
        self._mode = SHOWING_QR
        self._deadline = now + lifetime
        qr = f"2@{_b64(24)},{self._keys}"
        self.emit(DriverEvent(type=DriverEventType.QR, qr=qr, detail={"expires_in": lifetime, "index": self._qr_index}))

    def _next_qr(self, now: float) -> None:
        self._qr_index += 1
        if self._qr_index < settings.WILDCAT_SANDBOX_QR_CODES:
            self._show_qr(now)
            return
        # Like WhatsApp after its last code: the login attempt is over until someone starts again.
        self._mode = FAILED
        self._keys = ""
        self.emit(
            DriverEvent(
                type=DriverEventType.DISCONNECTED,
                reason=QR_TIMEOUT_REASON,
                detail={"auth_failed": True, "codes": self._qr_index},
            )
        )

    def _connect_after(self, now: float, seconds: float) -> None:
        self._mode = CONNECTING
        self._deadline = now + seconds

    def _go_online(self, now: float) -> None:
        if self._account is None:  # logged out meanwhile (another owner, an operator)
            self._mode = STOPPED
            return
        self._mode = ONLINE
        self._keepalive_at = now + settings.WILDCAT_SANDBOX_KEEPALIVE_SECONDS
        self.emit(DriverEvent(type=DriverEventType.CONNECTED, account=self._account))

    def _emit_due_receipts(self, now: float) -> None:
        """One receipt per chat and type for everything due this tick, like the network's batched receipts."""
        due = [r for r in self._receipts if r[0] <= now]
        if not due:
            return
        self._receipts = [r for r in self._receipts if r[0] > now]
        grouped: dict[tuple[str, str], list[str]] = {}
        for _, receipt_type, wa_message_id, chat_jid in due:
            ids = grouped.setdefault((chat_jid, receipt_type), [])
            if wa_message_id not in ids:
                ids.append(wa_message_id)
        read = [
            wa_id for (_, receipt_type), ids in grouped.items() if receipt_type == ReceiptType.READ for wa_id in ids
        ]
        if read:
            SandboxDelivery.objects.filter(connection_id=self.connection_id, wa_message_id__in=read).update(read=True)
        stamp = datetime.now(UTC)
        for (chat_jid, receipt_type), ids in grouped.items():
            receipt = Receipt(
                wa_message_ids=tuple(ids), chat_jid=chat_jid, type=ReceiptType(receipt_type), timestamp=stamp
            )
            self.emit(DriverEvent(type=DriverEventType.RECEIPT, receipt=receipt))

    def _require_online(self) -> None:
        if self._mode != ONLINE:
            raise DriverError("not_connected", "the sandbox phone is not connected", permanent=False)

    # --- sends ---------------------------------------------------------------------------
    def send_message(self, message: OutboundMessage) -> SendResult:
        self._require_online()
        self._check_recipient(message.chat_jid)
        content = dict(message.content)
        if message.reply_to_wa_message_id:
            content["reply_to"] = message.reply_to_wa_message_id
        delivery = self._record_delivery(message, content)
        if message.type != MessageType.REACTION:
            # Scheduled on every attempt: after a failover the first owner's timers are gone.
            now = time.monotonic()
            wa_id, chat = message.wa_message_id, message.chat_jid
            delivered_at = now + settings.WILDCAT_SANDBOX_DELIVERED_SECONDS
            self._receipts.append((delivered_at, ReceiptType.DELIVERED, wa_id, chat))
            self._receipts.append((now + settings.WILDCAT_SANDBOX_READ_SECONDS, ReceiptType.READ, wa_id, chat))
        return SendResult(wa_message_id=delivery.wa_message_id, timestamp=delivery.created_at)

    def _check_recipient(self, chat_jid: str) -> None:
        if chat_jid.endswith("@g.us"):
            if chat_jid not in {g["jid"] for g in self._groups()}:
                raise DriverError("group_not_found", f"no group {chat_jid} on this account", permanent=True)
            return
        if not is_on_whatsapp(chat_jid):
            raise DriverError("not_on_whatsapp", f"{chat_jid} is not on WhatsApp", permanent=True)

    def _record_delivery(self, message: OutboundMessage, content: dict[str, Any]) -> SandboxDelivery:
        """What the recipient saw, once per WhatsApp id however often the send is retried, on any worker.

        One ``INSERT … ON CONFLICT DO NOTHING``: the unique (connection, id) constraint keeps the first
        delivery, so a retry or a second owner after a failover adds nothing the recipient would see.
        """
        row = SandboxDelivery(
            connection_id=self.connection_id,
            wa_message_id=message.wa_message_id,
            chat_jid=message.chat_jid,
            type=str(message.type),
            text=message.text,
            content=content,
            media_size=len(message.media.content) if message.media else 0,
        )
        SandboxDelivery.objects.bulk_create([row], ignore_conflicts=True)
        return row

    def edit_message(self, *, chat_jid: str, wa_message_id: str, new_text: str) -> SendResult:
        self._require_online()
        self._delivery(wa_message_id)
        SandboxDelivery.objects.filter(connection_id=self.connection_id, wa_message_id=wa_message_id).update(
            edited_text=new_text
        )
        return SendResult(wa_message_id=generate_message_id(), timestamp=datetime.now(UTC))

    def revoke_message(self, *, chat_jid: str, sender_jid: str, wa_message_id: str) -> SendResult:
        self._require_online()
        self._delivery(wa_message_id)
        SandboxDelivery.objects.filter(connection_id=self.connection_id, wa_message_id=wa_message_id).update(
            revoked=True
        )
        return SendResult(wa_message_id=generate_message_id(), timestamp=datetime.now(UTC))

    def _delivery(self, wa_message_id: str) -> SandboxDelivery:
        row = SandboxDelivery.objects.filter(connection_id=self.connection_id, wa_message_id=wa_message_id).first()
        if row is None:
            raise DriverError("message_not_found", f"no sent message {wa_message_id}", permanent=True)
        return row

    def mark_read(self, *, chat_jid: str, sender_jid: str, wa_message_ids: list[str]) -> None:
        self._require_online()

    def send_presence(self, *, chat_jid: str, state: str) -> None:
        self._require_online()
        if state not in PRESENCE_STATES:
            raise DriverError("invalid_presence", f"unknown presence {state!r}", permanent=True)

    # --- lookups -------------------------------------------------------------------------
    def check_numbers(self, numbers: list[str]) -> list[dict[str, Any]]:
        self._require_online()
        results = []
        for number in numbers:
            on = is_on_whatsapp(number)
            jid = f"{digits_of(number)}@s.whatsapp.net" if on else ""
            results.append({"number": number, "on_whatsapp": on, "jid": jid})
        return results

    def list_groups(self) -> list[dict[str, Any]]:
        self._require_online()
        return [{k: v for k, v in g.items() if k != "participants"} for g in self._groups()]

    def group_info(self, group_jid: str) -> dict[str, Any]:
        self._require_online()
        for group in self._groups():
            if group["jid"] == group_jid:
                return group
        raise DriverError("group_not_found", f"no group {group_jid} on this account", permanent=True)

    def _groups(self) -> list[dict[str, Any]]:
        """Fixed fake groups, derived from the connection id so every owner sees the same ones."""
        own = self._account.whatsapp_id if self._account else ""
        groups = []
        for index in range(1, GROUPS_PER_ACCOUNT + 1):
            members = [f"4915100{self.connection_id % 10000:04d}{index}{n}@s.whatsapp.net" for n in range(2)]
            participants = [{"jid": own, "is_admin": True, "is_super_admin": True}] + [
                {"jid": jid, "is_admin": False, "is_super_admin": False} for jid in members
            ]
            groups.append(
                {
                    "jid": f"120363{self.connection_id:011d}{index}@g.us",
                    "name": f"Sandbox group {index}",
                    "topic": "A group on the sandbox phone",
                    "owner_jid": own,
                    "participant_count": len(participants),
                    "participants": participants,
                }
            )
        return groups

    # --- sandbox operations (SessionCommand "call" ops) ----------------------------------
    def call_scan(self, phone: str = "", profile_name: str = "") -> dict[str, Any]:
        """The phone scans the current QR (or enters the pairing code): PAIRED now, CONNECTED shortly after."""
        if self._mode != SHOWING_QR:
            raise DriverError("not_pending", "there is no QR code to scan right now", permanent=True)
        digits = digits_of(phone) or self._pair_phone or f"{SCAN_PHONE_PREFIX}{secrets.randbelow(10000):04d}"
        device = secrets.randbelow(90) + 10
        credential, _ = SandboxCredential.objects.update_or_create(
            connection_id=self.connection_id,
            defaults={
                "whatsapp_id": f"{digits}:{device}@s.whatsapp.net",
                "phone_number": f"+{digits}",
                "profile_name": profile_name or f"Sandbox {digits[-4:]}",
                "platform": "sandbox",
                "device_key": _b64(32),
            },
        )
        self._account = _account_of(credential)
        self._keys = ""
        self._pair_phone = ""
        self.emit(DriverEvent(type=DriverEventType.PAIRED, account=self._account))
        self._connect_after(time.monotonic(), settings.WILDCAT_SANDBOX_CONNECT_SECONDS)
        return {
            "whatsapp_id": credential.whatsapp_id,
            "phone_number": credential.phone_number,
            "profile_name": credential.profile_name,
        }

    def call_inject_message(self, **fields: Any) -> dict[str, Any]:
        """Someone writes to the sandbox phone (see ``inbound_message`` for the fields)."""
        self._require_online()
        message = inbound_message(own_jid=self._account.whatsapp_id if self._account else "", **fields)
        self.emit(DriverEvent(type=DriverEventType.MESSAGE, message=message))
        return {"wa_message_id": message.wa_message_id, "chat_jid": message.chat_jid}

    def call_inject_disconnect(self, reason: str = "connection_lost", reconnect_after: float | None = None) -> dict:
        """The network drops; the phone reconnects after ``reconnect_after`` s (default: the connect delay)."""
        self._require_online()
        delay = settings.WILDCAT_SANDBOX_CONNECT_SECONDS if reconnect_after is None else max(0.0, reconnect_after)
        self._mode = OFFLINE
        self._deadline = time.monotonic() + delay
        self.emit(DriverEvent(type=DriverEventType.DISCONNECTED, reason=reason or "connection_lost"))
        return {"reconnect_after": delay}

    def call_inject_logout(self) -> dict[str, Any]:
        """The user removes the linked device on the phone: credentials are gone, a new scan is needed."""
        if self._account is None:
            raise DriverError("not_logged_in", "the sandbox phone is not linked", permanent=True)
        self.delete_session_data(deliveries=False)
        self._mode = STOPPED
        self._receipts = []
        self.emit(DriverEvent(type=DriverEventType.LOGGED_OUT, reason="removed_from_phone"))
        return {"logged_out": True}

    def call_inject_ban(self, seconds: float | None = None, code: int = 101) -> dict[str, Any]:
        """WhatsApp bans the number for a while; the session comes back by itself when the ban ends."""
        self._require_online()
        duration = settings.WILDCAT_SANDBOX_BAN_SECONDS if seconds is None else max(0.0, float(seconds))
        self._mode = OFFLINE
        self._deadline = time.monotonic() + duration
        self.emit(DriverEvent(type=DriverEventType.TEMPORARY_BAN, detail={"code": int(code), "expires_in": duration}))
        return {"banned_for": duration, "code": int(code)}


def _account_of(credential: SandboxCredential) -> AccountInfo:
    return AccountInfo(
        whatsapp_id=credential.whatsapp_id,
        phone_number=credential.phone_number,
        profile_name=credential.profile_name,
        platform=credential.platform,
    )


def inbound_message(
    *,
    own_jid: str,
    sender: str,
    text: str = "",
    type: str = "text",
    group_jid: str = "",
    push_name: str = "",
    media_base64: str = "",
    mimetype: str = "",
    filename: str = "",
    content: dict[str, Any] | None = None,
    wa_message_id: str = "",
    quoted_wa_message_id: str = "",
) -> InboundMessage:
    """Build an inbound message from plain fields: ``sender`` is a phone or JID, media is base64."""
    sender_digits = digits_of(sender)
    if not sender_digits:
        raise DriverError("invalid_sender", "the sender must be a phone number or a JID", permanent=True)
    try:
        message_type = MessageType(type)
    except ValueError as exc:
        raise DriverError("invalid_type", f"unknown message type {type!r}", permanent=True) from exc
    media = _media(media_base64, mimetype, filename) if media_base64 else None
    sender_jid = f"{sender_digits}@s.whatsapp.net"
    return InboundMessage(
        wa_message_id=wa_message_id or generate_message_id(),
        chat_jid=group_jid or sender_jid,
        sender_jid=sender_jid,
        from_me=False,
        is_group=bool(group_jid),
        type=message_type,
        timestamp=datetime.now(UTC),
        text=text,
        push_name=push_name,
        media=media,
        content=dict(content or {}),
        quoted_wa_message_id=quoted_wa_message_id,
        raw={"sandbox": True, "to": own_jid},
    )


def _media(media_base64: str, mimetype: str, filename: str) -> MediaPayload:
    try:
        raw = base64.b64decode(media_base64, validate=True)
    except ValueError as exc:
        raise DriverError("invalid_media", "media_base64 is not valid base64", permanent=True) from exc
    return MediaPayload(content=raw, mimetype=mimetype or "application/octet-stream", filename=filename)
