"""The outbox sending through the neonize driver (Go binding faked), with the real event sink and database.

Three whatsmeow behaviours the sandbox cannot show: whatsmeow chooses every message id, so the id is
learnt only when the send returns, and a delivery receipt can come before the outbox records it; a
send can time out after the message went out (send.go:432), so it must never be resent; and a send
again after a crash goes out under a new id (send.go:210-211), so the recipient would see it twice.
"""

from __future__ import annotations

import itertools
import json

import pytest
from django.utils import timezone
from neonize.proto import Neonize_pb2 as npb

from accounts.models import WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.event_sink import handle_driver_event
from messaging.models import Message
from messaging.outbox import outbox_process
from messaging.services import SendRequest, message_send
from tests.accounts import whatsmeow_errors as wm
from tests.accounts.factories import ConnectionFactory
from tests.accounts.neonize_binding import ME_JID, PEER_JID, SENT_AT, FakeBinding, on_binding
from tests.accounts.test_neonize_translation import jid, receipt_event
from tests.accounts.whatsmeow_errors import go_errorf
from webhooks.models import WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db
OTHER_JID = "4915112345678@s.whatsapp.net"
# PEER_JID's LID (the binding's LID map): the chat receipts of a one-to-one send come from (send.go:351).
PEER_LID = jid("987654321", server="lid")
# errors.go:24 ErrMessageTimedOut, returned by send.go:432 after the node was sent and 75 s passed.
SEND_TIMED_OUT = go_errorf(wm.MESSAGE_TIMED_OUT)


class WhatsmeowIds(FakeBinding):
    """Each send gets a new id chosen on the Go side, as whatsmeow's GenerateMessageID does (send.go:210-211)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids = (f"3EB0SERVER{n:04d}" for n in itertools.count(1))
        self.during_send = None  # called with the id while the send is still in flight
        self.fail_next: list[str] = []

    def do_SendMessage(self, uuid, to, to_len, message, message_len):
        if self.fail_next:
            return npb.SendMessageReturnFunction(Error=self.fail_next.pop(0)).SerializeToString()
        wa_id = next(self.ids)
        if self.during_send is not None:
            self.during_send(wa_id)
        timings = npb.MessageDebugTimings(
            Queue=0, Marshal=0, GetParticipants=0, GetDevices=0, GroupEncrypt=0, PeerEncrypt=0, Send=0, Resp=0, Retry=0
        )
        response = npb.SendResponse(Timestamp=SENT_AT, ID=wa_id, ServerID=0, DebugTimings=timings)
        return npb.SendMessageReturnFunction(SendResponse=response).SerializeToString()


@pytest.fixture
def connection():
    connection = ConnectionFactory(
        running=True,
        driver=WaConnection.Driver.NEONIZE,
        status=WaConnection.Status.READY,
        ready_at=timezone.now(),
        whatsapp_id=ME_JID,
        phone_number="5511888880000",
    )
    WebhookEndpoint.objects.create(api_key=connection.api_key, url="https://hooks.example.com/in", secret="whsec_x")
    return connection


@pytest.fixture
def go(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    return WhatsmeowIds()


@pytest.fixture
def driver(connection, go):
    """A logged-in driver whose events go straight into the real sink, like a sink thread that keeps up."""

    def sink(event) -> None:
        handle_driver_event(connection_id=connection.pk, event=event)

    driver = on_binding(NeonizeDriver(connection_id=connection.pk, emit=sink), go)
    yield driver
    driver.stop()


def queue(connection, chat: str, text: str) -> Message:
    body, _ = message_send(
        api_key_id=connection.api_key_id,
        connection_id=connection.pk,
        request=SendRequest(chat_jid=chat, type="text", text=text),
    )
    return Message.objects.get(pk=body["id"])


def test_a_receipt_that_overtakes_the_recording_still_delivers(connection, driver, go):
    first, second = queue(connection, PEER_JID, "one"), queue(connection, OTHER_JID, "two")
    # whatsmeow receipt.go handleReceipt dispatches events.Receipt with the id it chose; the phone can
    # answer while the outbox is still sending the rest of its batch, before any id is recorded.
    go.during_send = lambda wa_id: driver._on_receipt(
        None, receipt_event(npb.Receipt.DELIVERED, ids=(wa_id,), chat=PEER_LID)
    )
    assert outbox_process(connection_id=connection.pk, port=driver) == 2
    driver.tick(0.0)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.wa_message_id, second.wa_message_id) == ("3EB0SERVER0001", "3EB0SERVER0002")
    assert (first.status, second.status) == ("delivered", "delivered")
    assert first.delivered_at is not None and first.sent_at is not None


def test_a_receipt_finds_a_message_still_stored_under_its_queued_id(connection, driver, go):
    message = queue(connection, PEER_JID, "one")
    queued_id = message.wa_message_id
    # Another row already holds the id whatsmeow chose (an echo stored first): the outbox keeps the
    # queued id (outbox._adopt_network_ids), and the receipt names whatsmeow's id.
    Message.objects.create(
        api_key_id=connection.api_key_id,
        connection=connection,
        wa_message_id="3EB0SERVER0001",
        direction="inbound",
        chat_jid=PEER_JID,
        type="text",
        text="echo",
        status="delivered",
    )
    outbox_process(connection_id=connection.pk, port=driver)
    driver._on_receipt(None, receipt_event(npb.Receipt.DELIVERED, ids=("3EB0SERVER0001",), chat=PEER_LID))
    driver.tick(0.0)
    message.refresh_from_db()
    assert message.wa_message_id == queued_id and message.status == "delivered"


def test_a_send_that_timed_out_after_it_started_is_never_resent(connection, driver, go):
    unsure, later = queue(connection, PEER_JID, "did it arrive?"), queue(connection, OTHER_JID, "after")
    go.fail_next = [SEND_TIMED_OUT]
    outbox_process(connection_id=connection.pk, port=driver)
    unsure.refresh_from_db()
    assert (unsure.status, unsure.error_code, unsure.next_attempt_at) == ("failed", "send_outcome_unknown", None)
    assert SEND_TIMED_OUT in unsure.error and unsure.failed_at is not None
    failed_events = [
        json.loads(body) for body in WebhookEvent.objects.filter(type="message.failed").values_list("body", flat=True)
    ]
    assert [event["data"]["id"] for event in failed_events] == [unsure.pk]
    assert failed_events[0]["data"]["error"]["code"] == "send_outcome_unknown"
    # The session did not answer for 75 s: the rest of the batch waits for the next round.
    assert Message.objects.get(pk=later.pk).status == "queued"
    for _ in range(3):
        outbox_process(connection_id=connection.pk, port=driver)
    sent_texts = [message.conversation for _to, message in go.sent()]
    assert sent_texts == ["did it arrive?", "after"], "the unsure message went to Go once, never again"
    assert go.names().count("SendMessage") == 2
    assert Message.objects.get(pk=unsure.pk).status == "failed"


def test_a_timeout_before_the_message_went_out_is_retried(connection, driver, go):
    message = queue(connection, PEER_JID, "retry me")
    # send.go:341: the LID lookup timed out (errors.go:21 ErrIQTimedOut) before any node was sent.
    # user.go:950 wraps the usync query's error.
    go.fail_next = [go_errorf(wm.USER_INFO_FOR_LID, PEER_JID, go_errorf(wm.USYNC, go_errorf(wm.IQ_TIMED_OUT)))]
    outbox_process(connection_id=connection.pk, port=driver)
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("queued", "timeout") and message.next_attempt_at
    Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
    outbox_process(connection_id=connection.pk, port=driver)
    message.refresh_from_db()
    assert (message.status, message.wa_message_id) == ("sent", "3EB0SERVER0001")


class OwnerKilled(BaseException):
    """The session host dying mid-send: nothing after this point of the round runs or commits."""


def test_each_send_is_recorded_before_the_next_and_an_interrupted_one_is_never_sent_again(connection, driver, go):
    first, second, third = (queue(connection, PEER_JID, text) for text in ("one", "two", "three"))

    def die_on_the_second(wa_id: str) -> None:
        if wa_id == "3EB0SERVER0002":
            raise OwnerKilled

    go.during_send = die_on_the_second
    with pytest.raises(OwnerKilled):
        outbox_process(connection_id=connection.pk, port=driver)
    statuses = dict(Message.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list("pk", "status"))
    # The first send was recorded before the second began; the second was claimed and never recorded.
    assert statuses == {first.pk: "sent", second.pk: "sending", third.pk: "queued"}
    assert Message.objects.get(pk=first.pk).wa_message_id == "3EB0SERVER0001"

    go.during_send = None  # the next owner of the session
    assert outbox_process(connection_id=connection.pk, port=driver) == 1
    second.refresh_from_db()
    assert (second.status, second.error_code, second.next_attempt_at) == ("failed", "send_outcome_unknown", None)
    assert "not sent again automatically" in second.error
    assert [message.conversation for _to, message in go.sent()] == ["one", "two", "three"]
    failed = [json.loads(b) for b in WebhookEvent.objects.filter(type="message.failed").values_list("body", flat=True)]
    assert [(e["data"]["id"], e["data"]["error"]["code"]) for e in failed] == [(second.pk, "send_outcome_unknown")]
