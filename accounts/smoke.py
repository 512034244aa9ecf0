"""The live check behind ``manage.py whatsapp_smoke``: one real login, a text, an image, a reply, a logout.

It drives the deployment's own runtime (sessions worker, beat, database, Redis) exactly as the API
does, so a pass means this deployment works end to end with WhatsApp. Each step reports pass or
fail with its duration and the facts a bug report needs (statuses, errors, timeline rows).
With the sandbox driver the simulated phone scans the QR code and types the reply itself.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import qrcode
from django.db import close_old_connections
from django.utils import timezone
from PIL import Image, ImageDraw

from accounts.models import SessionCommand, WaConnection
from accounts.services import (
    connection_create,
    connection_logout,
    connection_request_pair_code,
    connection_start,
    sandbox_call_create,
)
from messaging.models import Message
from messaging.recipients import recipient_to_jid
from messaging.services import SendRequest, message_send
from wildcat.phones import phone_digits

POLL_SECONDS = 0.5
SMOKE_TEXT = "Wildcat smoke test: please reply to this message with any text."
SANDBOX_REPLY = "Reply from the sandbox phone"


class StepFailed(Exception):
    """A step did not reach its goal; the message says what was seen instead."""


@dataclass
class StepResult:
    name: str
    passed: bool | None  # None: skipped because an earlier step failed
    seconds: float
    detail: str


@dataclass
class SmokeOptions:
    phone: str
    driver: str = WaConnection.Driver.NEONIZE
    pair_code: bool = False
    login_timeout: float = 180.0
    step_timeout: float = 90.0
    reply_timeout: float = 300.0


@dataclass
class SmokeRun:
    """One walk through the steps; ``say`` prints a line (the terminal, or a test's list)."""

    api_key_id: int
    options: SmokeOptions
    say: Callable[[str], None]
    results: list[StepResult] = field(default_factory=list)
    connection: WaConnection | None = None
    chat_jid: str = ""
    started_at: Any = None
    text_id: int = 0
    shown_qr: str = ""

    # --- running ---------------------------------------------------------------------------
    def run(self) -> bool:
        self.started_at = timezone.now()
        self.chat_jid = recipient_to_jid(self.options.phone)
        steps = [
            ("login", self.step_login),
            ("ready", self.step_ready),
            ("text_sent", self.step_text_sent),
            ("text_delivered", self.step_text_delivered),
            ("image_sent", self.step_image),
            ("inbound_reply", self.step_reply),
        ]
        failed = False
        for name, step in steps:
            failed = not self._run_step(name, step, skip=failed) or failed
        linked = self.connection is not None and self._row().status in ("authenticated", "ready", "disconnected")
        self._run_step("logout", self.step_logout, skip=not linked)
        return all(result.passed for result in self.results)

    def _run_step(self, name: str, step: Callable[[], str], *, skip: bool) -> bool:
        if skip:
            self._record(StepResult(name, None, 0.0, "skipped: an earlier step failed"))
            return False
        started = time.monotonic()
        try:
            detail, passed = step(), True
        except StepFailed as exc:
            detail, passed = f"{exc} | {self._facts()}", False
        except Exception as exc:  # noqa: BLE001 - an unexpected error is a failed step with its text
            detail, passed = f"{type(exc).__name__}: {exc} | {self._facts()}", False
        finally:
            close_old_connections()
        self._record(StepResult(name, passed, time.monotonic() - started, detail))
        return passed

    def _record(self, result: StepResult) -> None:
        self.results.append(result)
        label = {True: "PASS", False: "FAIL", None: "SKIP"}[result.passed]
        self.say(f"[{label}] {result.name:<15} {result.seconds:6.1f} s  {result.detail}")

    # --- helpers ---------------------------------------------------------------------------
    def _row(self) -> WaConnection:
        assert self.connection is not None
        return WaConnection.objects.get(pk=self.connection.pk)

    def _facts(self) -> str:
        """What a bug report needs: the connection's state and its last timeline rows."""
        if self.connection is None:
            return "no connection"
        row = self._row()
        events = list(row.events.order_by("-id")[:5].values_list("kind", "to_status", "detail"))
        timeline = "; ".join(f"{kind}{'→' + to if to else ''} {detail}" for kind, to, detail in reversed(events))
        return (
            f"connection {row.pk} status={row.status} step={row.connection_step or '-'} "
            f"reason={row.disconnect_reason or '-'} error={row.error or '-'} owner={row.lease_owner or 'none'} "
            f"timeline: {timeline}"
        )

    def _wait(self, what: str, timeout: float, probe: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(POLL_SECONDS)
            close_old_connections()
        raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")

    def _command_result(self, command: SessionCommand, timeout: float) -> dict[str, Any]:
        def probe():
            done = SessionCommand.objects.get(pk=command.pk)
            return done if done.status in (SessionCommand.Status.DONE, SessionCommand.Status.FAILED) else None

        done = self._wait(f"the session to run its {command.kind} command", timeout, probe)
        if done.status != SessionCommand.Status.DONE:
            raise StepFailed(f"{command.kind} command failed: {done.error}")
        return done.result

    def _message(self, message_id: int) -> Message:
        return Message.objects.get(pk=message_id)

    def _send(self, request: SendRequest) -> int:
        body, _ = message_send(api_key_id=self.api_key_id, connection_id=self._row().pk, request=request)
        return int(body["id"])

    def _wait_status(self, message_id: int, statuses: set[str], timeout: float) -> Message:
        def probe():
            message = self._message(message_id)
            if message.status == Message.Status.FAILED:
                raise StepFailed(f"message {message_id} failed: {message.error_code} {message.error}")
            return message if message.status in statuses else None

        return self._wait(f"message {message_id} to be {'/'.join(sorted(statuses))}", timeout, probe)

    # --- the steps -----------------------------------------------------------------------------
    def step_login(self) -> str:
        name = f"whatsapp-smoke-{timezone.now():%Y%m%d-%H%M%S}"
        self.connection = connection_create(api_key_id=self.api_key_id, name=name, driver=self.options.driver)
        connection_start(connection=self.connection)
        self.say(f"       connection {self.connection.pk} ({name}) started; waiting for a session worker")
        pending = self._wait(
            "a QR code (is a `sessions` worker and beat running?)",
            self.options.login_timeout,
            lambda: (row := self._row()).status == "pending" and row.last_qr and row,
        )
        if self.options.pair_code:
            command = connection_request_pair_code(connection=pending, phone=phone_digits(self.options.phone))
            code = self._command_result(command, self.options.step_timeout)["code"]
            self.say(f"       pairing code {code}: WhatsApp > Linked devices > Link with phone number instead")
            how = f"pairing code {code} issued"
        else:
            self._show_qr(pending.last_qr)
            how = "QR code shown"
        if self.options.driver == WaConnection.Driver.SANDBOX:
            phone = phone_digits(self.options.phone) if self.options.pair_code else ""
            sandbox_call_create(connection=pending, op="scan", args={"phone": phone} if phone else {})
        return how

    def _show_qr(self, qr: str) -> None:
        if self.shown_qr:
            self.say("       the previous code expired; scan this one")
        self.shown_qr = qr
        self.say(qr_text(qr))
        self.say("       scan it: WhatsApp > Settings > Linked devices > Link a device")

    def step_ready(self) -> str:
        def probe():
            row = self._row()
            if row.status == "pending" and row.last_qr and self.shown_qr and row.last_qr != self.shown_qr:
                self._show_qr(row.last_qr)  # whatsmeow rotates the code every 20 s after the first minute
            return row if row.status == "ready" else None

        row = self._wait("the phone to link and the session to be ready", self.options.login_timeout, probe)
        return f"linked as {row.whatsapp_id} (+{row.phone_number.lstrip('+')}, platform {row.platform or '-'})"

    def step_text_sent(self) -> str:
        self.text_id = self._send(SendRequest(chat_jid=self.chat_jid, type="text", text=SMOKE_TEXT))
        message = self._wait_status(self.text_id, {"sent", "delivered", "read"}, self.options.step_timeout)
        return f"message {self.text_id} sent to {self.chat_jid} as {message.wa_message_id}"

    def step_text_delivered(self) -> str:
        message = self._wait_status(self.text_id, {"delivered", "read"}, self.options.step_timeout)
        return f"message {self.text_id} {message.status} at {message.delivered_at:%H:%M:%S}"

    def step_image(self) -> str:
        request = SendRequest(
            chat_jid=self.chat_jid,
            type="image",
            text="Wildcat smoke test image",
            media_bytes=smoke_image(),
            media_mimetype="image/png",
            media_filename="wildcat-smoke.png",
        )
        image_id = self._send(request)
        message = self._wait_status(image_id, {"sent", "delivered", "read"}, self.options.step_timeout)
        return f"image {image_id} {message.status} as {message.wa_message_id}"

    def step_reply(self) -> str:
        sender = recipient_to_jid(self.options.phone)
        self.say(f"       now reply to the test message from +{phone_digits(self.options.phone)}")
        if self.options.driver == WaConnection.Driver.SANDBOX:
            args = {"sender": sender, "text": SANDBOX_REPLY, "push_name": "Sandbox"}
            sandbox_call_create(connection=self._row(), op="inject_message", args=args)

        def probe():
            replies = Message.objects.filter(
                connection_id=self._row().pk, direction="inbound", sender_jid=sender, created_at__gte=self.started_at
            )
            return replies.order_by("id").first()

        reply = self._wait(f"a reply from {sender}", self.options.reply_timeout, probe)
        return f"received message {reply.pk} ({reply.type}): {reply.text[:80]!r}"

    def step_logout(self) -> str:
        command = connection_logout(connection=self._row())
        if command is not None:
            self._command_result(command, self.options.step_timeout)
        self._wait("logged_out", self.options.step_timeout, lambda: self._row().status == "logged_out")
        return "logged out; the phone no longer lists this device"


def qr_text(qr: str) -> str:
    """The QR code drawn with text blocks, for a terminal."""
    code = qrcode.QRCode(border=2)
    code.add_data(qr)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def smoke_image() -> bytes:
    """A small PNG made here, so the check needs no file and no URL."""
    image = Image.new("RGB", (320, 160), (37, 211, 102))
    ImageDraw.Draw(image).text((20, 70), "Wildcat smoke test", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
