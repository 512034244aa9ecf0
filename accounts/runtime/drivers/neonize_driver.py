"""The real WhatsApp driver: one whatsmeow session through neonize 0.5.2, inside a session-host process.

Runtime requirements and rules (see NEONIZE.md for the measurements behind them):
- Runs only in an exec'd session host; web and prefork processes never import neonize (a process
  forked after the import hangs in ``connect()``).
- Threads: the host calls this driver's methods from its one command thread, but neonize is not
  serialized by that. ``connect()`` runs on the session's own thread and writes Go's global maps
  (declared at goneonize main.go:45 and 53; ``Neonize()`` writes ``StopSignal`` at line 614,
  ``eventChannel`` at 626 and ``clients`` at 654), whatsmeow calls the handlers on neonize's event
  thread, and media transfers run on short-lived helper threads. No Python lock can make two clients
  in one process safe, so a host process runs at most one neonize session: ``start()`` refuses a
  second one, and the ``wildcat.E030`` system check refuses ``WILDCAT_SESSIONS_PER_HOST`` > 1. One
  session keeps a tiny window: ``Stop`` (main.go:587-605) deletes from all three maps on the command
  thread, racing ``Neonize()``'s writes right after a start, or the event thread's ``clients[id]``
  read on ``Connected`` (main.go:1920); Go would abort the host, and the supervisor restarts it.
- ``connect()`` blocks its thread until ``stop()``, so it runs on a thread of its own. Handlers run
  serially on neonize's thread behind a 100-event buffer: they only translate and ``emit`` (media
  downloads, LID lookups and receipts wait for ``tick`` on the command thread; the one Go call made
  from a handler is the flag that activates delivery receipts on connect). Every handler, and the
  login-status callback that reports how a fresh login ended (``neonize_login``), is registered
  before connect.
- Each client gets the uuid ``wildcat-<connection_id>`` (the key of Go's global maps) and its
  garbage-collection finalizer is detached: a collected client object would call ``Stop(uuid)``
  and kill whichever live session has that uuid.
- ``get_me()`` before a login aborts the process, so the driver never calls it: its own JID comes
  from the stored ``WaConnection.whatsapp_id`` or the pairing event.
- The session store (keys that let any worker resume without a scan) is described in
  ``neonize_store``. Resuming passes the stored JID; a fresh login passes ``new_device=True``.
- Media is sent from bytes with the caller's MIME type, so sending needs neither ffmpeg nor a URL
  fetch; libmagic (``python-magic``) must be importable because neonize imports it. Audio and video
  go out without a duration unless the caller supplies ``seconds``.
- A connect ended by a ban code or failure reason goneonize cannot encode is that ban or failure
  (``connect_error_translate``), not a failed dial.
- Connect retries happen in a fresh process. Every ``connect()`` makes Go open a new session-store
  container (a PostgreSQL connection pool, or open SQLite files) that neither a failed dial nor
  ``stop()`` ever closes, so retrying in the same process leaks one pool per attempt. After a failed
  connect the driver sets ``fresh_process_needed``; the host hands the session back and the
  supervisor restarts it in a new host process after a backoff (restarts go the same way).
- Message ids: neonize 0.5.2's Go ``SendMessage`` accepts no ``SendRequestExtra``, so whatsmeow
  picks the id of every send and the pre-generated id cannot be imposed. The driver returns the id
  WhatsApp used in ``SendResult.wa_message_id`` and remembers each pre-generated id it sent during
  its lifetime, so a retry through the same session returns the first result instead of sending
  again. Because a send after a crash would be a second message, the driver declares
  ``sends_with_our_ids = False``: the outbox records each send before the next and fails a message
  it finds interrupted as ``send_outcome_unknown`` instead of sending it again. Receipts name
  both ids (``receipt_with_queued_ids``), so one that comes before the outbox records whatsmeow's
  id still finds the message. A send that failed after its node went out is ``send_outcome_unknown``
  (``neonize_errors.send_error``), never resent, and never learns its WhatsApp id (goneonize drops it).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from neonize import events as nev
from neonize.client import ChatSettingsStore, ContactStore, NewClient
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ReceiptType

from accounts.models import WaConnection
from accounts.runtime.drivers import neonize_store as store
from accounts.runtime.drivers.base import SessionDriver
from accounts.runtime.drivers.neonize_content import is_poll_vote, poll_vote_translate
from accounts.runtime.drivers.neonize_errors import driver_error, send_error
from accounts.runtime.drivers.neonize_groups import group_details, group_summary
from accounts.runtime.drivers.neonize_lids import LidPhoneBook, lid_unresolved
from accounts.runtime.drivers.neonize_login import LoginWatch, login_status_text, pair_code_request
from accounts.runtime.drivers.neonize_messages import (
    edit_build,
    jid_parse,
    message_build,
    revoke_build,
)
from accounts.runtime.drivers.neonize_presence import PresenceAnnouncer, presence_setting, receipts_activate
from accounts.runtime.drivers.neonize_transfers import media_attach, media_upload
from accounts.runtime.drivers.neonize_translation import (
    CONNECTION_TRANSLATORS,
    connect_error_translate,
    is_chat_message,
    media_download_message,
    media_message,
    message_translate,
    receipt_translate,
    receipt_with_queued_ids,
    seconds_to_datetime,
    sender_resolve,
)
from wildcat.whatsapp import (
    AccountInfo,
    DriverError,
    DriverEvent,
    DriverEventType,
    InboundMessage,
    OutboundMessage,
    SendResult,
)

logger = logging.getLogger(__name__)
STOP_JOIN_SECONDS = 2.0
SENT_CACHE_SIZE = 2000
PRESENCE_STATES = {"composing": ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_TEXT"),
                   "recording": ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_AUDIO"),
                   "paused": ("CHAT_PRESENCE_PAUSED", "CHAT_PRESENCE_MEDIA_TEXT")}  # fmt: skip
# Clients that were stopped stay referenced: Go may still call their ctypes callbacks for a moment.
_RETIRED_CLIENTS: list[Any] = []
# The connection whose neonize session this process runs (at most one: see the module docstring).
_PROCESS_SESSION: set[int] = set()


class NeonizeDriver(SessionDriver):
    kind = "neonize"
    restart_needs_fresh_process = True

    def __init__(self, *, connection_id: int, emit) -> None:
        super().__init__(connection_id=connection_id, emit=emit)
        self.uuid = f"wildcat-{connection_id}"
        self.client: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._socket_up = threading.Event()
        self._logged_in = False
        self._own_jid = ""
        self._login = LoginWatch()
        self.fresh_process_needed = False
        self._last_keepalive = float("-inf")
        self._inbound: collections.deque[tuple[InboundMessage, tuple[Any, int, Any] | None]] = collections.deque()
        self._receipts: collections.deque[DriverEvent] = collections.deque()
        self._sent: collections.OrderedDict[str, SendResult] = collections.OrderedDict()
        self._votes: collections.deque[Any] = collections.deque()  # poll votes: decrypted on the command thread
        self._lids = LidPhoneBook()
        self._presence = PresenceAnnouncer()
        # The id whatsmeow chose -> the id the message was queued under (see receipt_with_queued_ids).
        self._queued_ids: dict[str, str] = {}

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        _process_session_check(self.connection_id)
        self._own_jid = self._stored_jid()
        if self._own_jid and not store.device_exists(whatsapp_id=self._own_jid, store_name=self.store_name()):
            # Resuming a device the store no longer has would crash the host (see neonize_store).
            logger.warning(
                "session %s: %s is not in the session store; starting a fresh login", self.connection_id, self._own_jid
            )
            self._own_jid = ""
        self.client = self._client_build()
        if not self._own_jid:
            self._login.begin(time.monotonic(), first_qr_seconds=settings.WILDCAT_NEONIZE_FIRST_QR_SECONDS)
        self._connect_spawn()
        _PROCESS_SESSION.add(self.connection_id)

    def _stored_jid(self) -> str:
        rows = WaConnection.objects.filter(pk=self.connection_id).values_list("whatsapp_id", flat=True)
        return rows.first() or ""

    def store_name(self) -> str:
        return store.session_store_name(
            connection_id=self.connection_id, database_url=settings.DATABASE_URL, data_dir=settings.DATA_DIR
        )

    def _client_build(self) -> Any:
        jid = jid_parse(self._own_jid) if self._own_jid else None
        client = NewClient(self.store_name(), jid=jid, uuid=self.uuid, new_device=jid is None)
        # With a JID neonize keys the session by the phone number; two connections may share one.
        client.uuid = self.uuid.encode()
        client.contact = ContactStore(client.uuid)
        client.chat_settings = ChatSettingsStore(client.uuid)
        client._stop_finalizer.detach()
        # neonize 0.5.2 has no hook for the login status: connect() hands Go ``self.__onLoginStatus``
        # (client.py:3413), which only prints it. That name is looked up when connect() runs, so an
        # instance attribute under its mangled name replaces it for this client.
        client._NewClient__onLoginStatus = self._on_login_status
        self._handlers_register(client)
        return client

    def _handlers_register(self, client: Any) -> None:
        client.event.qr(self._on_qr)
        for event_type in CONNECTION_TRANSLATORS:
            client.event(event_type)(self._on_connection_event)
        client.event(nev.MessageEv)(self._on_message)
        client.event(nev.ReceiptEv)(self._on_receipt)

    def _connect_spawn(self) -> None:
        self._stopping = False
        name = f"wc-neonize-{self.connection_id}"
        self._thread = threading.Thread(target=self._connect_run, args=(self.client,), name=name, daemon=True)
        self._thread.start()

    def _connect_run(self, client: Any) -> None:
        """Connect thread: blocks until stop(); after a failed dial the session asks for a fresh process."""
        try:
            client.connect()
        except Exception as exc:  # noqa: BLE001 - reported as a disconnect; retried in a new host process
            if self._stopping or client is not self.client:
                return
            event = connect_error_translate(str(exc))
            if event is not None:  # whatsmeow stopped reconnecting; the runtime's wait for it decides
                logger.warning("session %s: %s (%s)", self.connection_id, event.reason, exc)
                self.emit(event)
                return
            logger.warning("session %s: connect failed (%s); retrying in a fresh process", self.connection_id, exc)
            self.emit(
                DriverEvent(type=DriverEventType.DISCONNECTED, reason="connect_error", detail={"error": str(exc)[:300]})
            )
            # Connecting again here would open another store container that is never closed.
            self.fresh_process_needed = True

    def stop(self) -> None:
        # Messages already taken from WhatsApp (and acknowledged by whatsmeow) must not be lost.
        self._inbound_drain()
        self._receipts_drain()
        self._stopping = True
        _PROCESS_SESSION.discard(self.connection_id)
        client, self.client = self.client, None
        if client is None:
            return
        _RETIRED_CLIENTS.append(client)
        try:
            client.stop()
        except Exception:  # the session is going away either way
            logger.warning("session %s: neonize stop failed", self.connection_id, exc_info=True)
        if self._thread is not None:
            self._thread.join(STOP_JOIN_SECONDS)
        self._socket_up.clear()

    def logout(self) -> None:
        if self.client is not None and self._logged_in:
            try:
                self.client.logout()  # whatsmeow also deletes the device from the store
            except Exception as exc:
                raise driver_error(exc) from exc
        self._logged_in = False
        self.delete_session_data()
        self.emit(DriverEvent(type=DriverEventType.LOGGED_OUT, reason="logout"))

    def delete_session_data(self) -> None:
        self.stop()
        if store.is_postgres_url(settings.DATABASE_URL):
            store.postgres_device_delete(self._own_jid or self._stored_jid())
        else:
            store.sqlite_store_delete(self.connection_id, settings.DATA_DIR)
        self._own_jid = ""

    def is_logged_in(self) -> bool:
        return self._logged_in

    def request_pair_code(self, phone_digits: str) -> str:
        if self.client is None:
            raise DriverError("session_not_started", "the session is not running", permanent=False)
        if self._logged_in:
            raise DriverError("already_paired", "this connection is already linked to a phone", permanent=True)
        return pair_code_request(self.client, phone_digits, socket_up=self._socket_up.is_set())

    def tick(self, now: float) -> None:
        """Command thread: deliver queued inbound messages (with media) and receipts; end a login that failed."""
        self._inbound_drain()
        self._receipts_drain()
        self._presence.tick(self.client, now, self._presence_setting)
        if self._stopping or self.fresh_process_needed:
            return
        ended = self._login.due(now, grace=settings.WILDCAT_NEONIZE_QR_GRACE_SECONDS)
        if ended is not None:
            # Go is left waiting for a pairing that will not come (neonize_login): the session ends here.
            self.emit(ended)
            self.stop()

    # --- neonize handlers (neonize's thread: translate and emit only) ------------------------
    def _on_qr(self, _client: Any, data: bytes) -> None:
        if self._stopping:
            return
        self._socket_up.set()
        qr = data.decode() if isinstance(data, bytes) else str(data)
        self.emit(self._login.qr(qr, time.monotonic()))

    def _on_login_status(self, _uuid: int | None, status: int | None) -> None:
        if not self._stopping:
            self._login.status(login_status_text(status))

    def _on_connection_event(self, _client: Any, event: Any) -> None:
        translate = CONNECTION_TRANSLATORS.get(type(event))
        if translate is None:
            return
        driver_event = translate(event)
        kind = driver_event.type
        if self._stopping and kind != DriverEventType.LOGGED_OUT:
            return  # the socket closing because we asked is not a disconnect to report
        if kind == DriverEventType.KEEPALIVE:
            now = time.monotonic()
            if now - self._last_keepalive < settings.WILDCAT_NEONIZE_KEEPALIVE_MIN_SECONDS:
                return
            self._last_keepalive = now
        elif kind == DriverEventType.PAIRED and driver_event.account is not None:
            self._logged_in, self._own_jid = True, driver_event.account.whatsapp_id
            self._login.paired()
        elif kind == DriverEventType.CONNECTED:
            self._logged_in = True
            self._login.paired()
            self._presence_connected()
            if self._own_jid and driver_event.account is None:
                driver_event = dataclasses.replace(driver_event, account=self._account())
        elif kind == DriverEventType.LOGGED_OUT:
            self._logged_in = False
        self.emit(driver_event)

    def _presence_connected(self) -> None:
        try:
            if self.client is not None:
                receipts_activate(self.client)
        except Exception:  # neonize drops a handler's exception, and with it the CONNECTED event
            logger.warning("session %s: delivery receipts not activated", self.connection_id, exc_info=True)
        self._presence.connected()

    def _presence_setting(self) -> str:
        return presence_setting(self.connection_id)

    def call_presence_apply(self) -> dict[str, Any]:
        """Send the connection's (changed) presence now; a session not yet connected sends it on connect."""
        presence = self._presence_setting()
        if self.client is None or not self._logged_in:
            return {"presence": presence, "sent": False}
        return {"presence": presence, "sent": self._presence.announce(self.client, presence, time.monotonic())}

    def _account(self) -> AccountInfo:
        jid = jid_parse(self._own_jid)
        phone = jid.User if jid.Server == "s.whatsapp.net" else ""
        return AccountInfo(whatsapp_id=self._own_jid, phone_number=phone)

    def _on_message(self, _client: Any, event: Any) -> None:
        if is_poll_vote(event.Message):
            if is_chat_message(event.Info.MessageSource):  # not a vote on a status or channel poll
                self._votes.append(event)  # decrypting is a Go call: it waits for tick()
            return
        inbound = message_translate(event)
        if inbound is None:
            return
        found = media_message(event.Message)
        media = (found[0], found[1], media_download_message(found[0])) if found else None
        if self._stopping:
            self._deliver(inbound, media)  # no client any more: kept without its media
            return
        if media is not None or lid_unresolved(inbound) or self._inbound:
            # Downloads and LID lookups are neonize calls: they wait for tick(); later messages queue
            # behind to keep order.
            self._inbound.append((inbound, media))
            return
        self.emit(DriverEvent(type=DriverEventType.MESSAGE, message=inbound))

    def _on_receipt(self, _client: Any, event: Any) -> None:
        # Held for tick (the command thread): a receipt can overtake the send call that learns the
        # message's id, and by tick every send that started has returned and been recorded.
        driver_event = receipt_translate(event)
        if driver_event is not None:
            self._receipts.append(driver_event)

    def _receipts_drain(self) -> None:
        while self._receipts:
            self.emit(receipt_with_queued_ids(self._receipts.popleft(), self._queued_ids))

    def _inbound_drain(self) -> None:
        while self._inbound:
            inbound, media = self._inbound.popleft()
            self._deliver(inbound, media)
        while self._votes:
            self._vote_deliver(self._votes.popleft())

    def _vote_deliver(self, event: Any) -> None:
        """Decrypt a poll vote with the poll's secret (kept by whatsmeow) and report the voter's selection."""
        if self.client is None:
            logger.info("session %s: poll vote %s dropped, the session stopped", self.connection_id, event.Info.ID)
            return
        try:
            vote = self.client.decrypt_poll_vote(event)
        except Exception as exc:  # noqa: BLE001 - e.g. a vote on a poll whose secret this device never saw
            logger.warning("session %s: poll vote %s not decrypted: %s", self.connection_id, event.Info.ID, exc)
            return
        chat, sender = sender_resolve(event.Info.MessageSource)
        inbound = poll_vote_translate(event, vote, chat_jid=chat, sender_jid=sender)
        self.emit(DriverEvent(type=DriverEventType.MESSAGE, message=self._lids.resolved(self.client, inbound)))

    def _deliver(self, inbound: InboundMessage, media: tuple[Any, int, Any] | None) -> None:
        if media is not None:
            inbound = media_attach(self.client, inbound, *media)
        if not self._stopping:
            inbound = self._lids.resolved(self.client, inbound)
        self.emit(DriverEvent(type=DriverEventType.MESSAGE, message=inbound))

    # --- SessionPort -------------------------------------------------------------------------
    def _ready_client(self) -> Any:
        if self.client is None:
            raise DriverError("session_not_started", "the session is not running", permanent=False)
        if not self._logged_in:
            raise DriverError("not_logged_in", "the connection is not linked to a phone", permanent=True)
        return self.client

    def _result(self, response: Any, fallback_id: str) -> SendResult:
        stamp = seconds_to_datetime(response.Timestamp) if response.Timestamp else datetime.now(tz=UTC)
        return SendResult(wa_message_id=response.ID or fallback_id, timestamp=stamp)

    def _send(self, chat_jid: str, built: Any, fallback_id: str) -> SendResult:
        client = self._ready_client()
        try:
            response = client.send_message(jid_parse(chat_jid), built)
        except DriverError:
            raise
        except Exception as exc:
            raise send_error(exc) from exc
        return self._result(response, fallback_id)

    def send_message(self, message: OutboundMessage) -> SendResult:
        earlier = self._sent.get(message.wa_message_id)
        if earlier is not None:
            return earlier
        client = self._ready_client()

        built = message_build(message, upload=lambda content, media_type: media_upload(client, content, media_type))
        result = self._send(message.chat_jid, built, message.wa_message_id)
        self._sent[message.wa_message_id] = result
        if result.wa_message_id != message.wa_message_id:
            self._queued_ids[result.wa_message_id] = message.wa_message_id
        while len(self._sent) > SENT_CACHE_SIZE:
            _queued, forgotten = self._sent.popitem(last=False)
            self._queued_ids.pop(forgotten.wa_message_id, None)
        return result

    def edit_message(self, *, chat_jid: str, wa_message_id: str, new_text: str) -> SendResult:
        built = edit_build(chat_jid=chat_jid, wa_message_id=wa_message_id, new_text=new_text)
        return self._send(chat_jid, built, wa_message_id)

    def revoke_message(self, *, chat_jid: str, sender_jid: str, wa_message_id: str) -> SendResult:
        own_user = jid_parse(self._own_jid).User if self._own_jid else ""
        from_me = not sender_jid or jid_parse(sender_jid).User == own_user
        built = revoke_build(chat_jid=chat_jid, wa_message_id=wa_message_id, from_me=from_me, sender_jid=sender_jid)
        return self._send(chat_jid, built, wa_message_id)

    def mark_read(self, *, chat_jid: str, sender_jid: str, wa_message_ids: list[str]) -> None:
        if not wa_message_ids:
            return
        client = self._ready_client()
        try:
            client.mark_read(
                *wa_message_ids,
                chat=jid_parse(chat_jid),
                sender=jid_parse(sender_jid or chat_jid),
                receipt=ReceiptType.READ,
            )
        except Exception as exc:
            raise driver_error(exc) from exc

    def send_presence(self, *, chat_jid: str, state: str) -> None:
        if state not in PRESENCE_STATES:
            raise DriverError("invalid_presence", f"unknown chat presence {state!r}", permanent=True)
        presence, media = PRESENCE_STATES[state]
        client = self._ready_client()
        try:
            client.send_chat_presence(jid_parse(chat_jid), ChatPresence[presence], ChatPresenceMedia[media])
        except Exception as exc:
            raise driver_error(exc) from exc

    def check_numbers(self, numbers: list[str]) -> list[dict[str, Any]]:
        return self._lids.numbers_check(self._ready_client(), numbers)

    def list_groups(self) -> list[dict[str, Any]]:
        client = self._ready_client()
        try:
            groups = client.get_joined_groups()
        except Exception as exc:
            raise driver_error(exc) from exc
        return [group_summary(group) for group in groups]

    def group_info(self, group_jid: str) -> dict[str, Any]:
        client = self._ready_client()
        try:
            group = client.get_group_info(jid_parse(group_jid))
        except Exception as exc:
            raise driver_error(exc) from exc
        return group_details(group)


def _process_session_check(connection_id: int) -> None:
    others = _PROCESS_SESSION - {connection_id}
    if others:
        raise DriverError(
            "one_session_per_host",
            f"this host process already runs the neonize session of connection {min(others)}; neonize is only "
            "safe with one session per process (set WILDCAT_SESSIONS_PER_HOST=1)",
            permanent=True,
        )
