"""The outbox: pacing holds the rate, per-chat order survives retries, one WhatsApp id per message."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.inbound import message_apply_receipt
from messaging.models import Message
from messaging.outbox import outbox_seconds_until_due
from messaging.services import SendRequest, message_send
from wildcat.whatsapp import DriverError, Receipt, ReceiptType

pytestmark = pytest.mark.django_db
CHAT_A = "4915123456781@s.whatsapp.net"
CHAT_B = "4915123456782@s.whatsapp.net"


def queue(connection, chat: str, text: str) -> Message:
    body, _ = message_send(
        api_key_id=connection.api_key_id,
        connection_id=connection.pk,
        request=SendRequest(chat_jid=chat, type="text", text=text),
    )
    return Message.objects.get(pk=body["id"])


class FlakyNetwork:
    """The sandbox network, except that the first send to one chat times out (a transient failure)."""

    sends_with_our_ids = True

    def __init__(self, driver, flaky_chat: str) -> None:
        self.driver = driver
        self.flaky_chat = flaky_chat
        self.failed_once = False

    def send_message(self, message):
        if message.chat_jid == self.flaky_chat and not self.failed_once:
            self.failed_once = True
            raise DriverError("timeout", "the network timed out", permanent=False)
        return self.driver.send_message(message)


def test_pacing_holds_the_rate_and_keeps_order(phone, settings):
    connection = phone.connection
    connection.send_rate_per_minute = 120  # one every 0.5 s, +/- 30 %: the next slot is >= 0.35 s away
    connection.save(update_fields=["send_rate_per_minute"])
    settings.WILDCAT_SEND_JITTER = 0.3
    messages = [queue(connection, CHAT_A if i % 2 else CHAT_B, f"m{i}") for i in range(4)]
    deadline = time.monotonic() + 30
    on_time, early = [], []
    while Message.objects.filter(status="queued").exists():
        assert time.monotonic() < deadline, "the paced messages were not all sent"
        # The test waits for each slot itself, so no call races the interval.
        time.sleep(outbox_seconds_until_due(connection.pk))
        on_time.append(phone.process())
        early.append(phone.process())  # straight after a send, before the next slot
    assert on_time == [1, 1, 1, 1], "a paced connection sends one message per due slot"
    assert early == [0, 0, 0, 0], "calls before the next slot send nothing and return at once"
    sent = list(Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("sent_at"))
    assert [m.pk for m in sent] == [m.pk for m in messages], "creation order is kept"
    gaps = [(b.sent_at - a.sent_at).total_seconds() for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.5 * 0.7 - 0.01, gaps


def test_unpaced_connection_sends_a_batch_in_one_call(phone, settings):
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    for i in range(30):
        queue(phone.connection, CHAT_A, f"m{i}")
    assert phone.process() == 30
    assert list(phone.deliveries().values_list("text", flat=True)) == [f"m{i}" for i in range(30)]


def test_connection_rate_overrides_the_default(phone, settings):
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    phone.connection.send_rate_per_minute = 1
    phone.connection.save(update_fields=["send_rate_per_minute"])
    for i in range(3):
        queue(phone.connection, CHAT_A, f"m{i}")
    assert phone.process() == 1 and phone.process() == 0


def test_transient_failure_retries_with_the_same_id_and_blocks_only_its_chat(phone):
    connection = phone.connection
    a1, b1, a2 = queue(connection, CHAT_A, "a1"), queue(connection, CHAT_B, "b1"), queue(connection, CHAT_A, "a2")
    network = FlakyNetwork(phone.driver, CHAT_A)
    from messaging.outbox import outbox_process

    outbox_process(connection_id=connection.pk, port=network)
    a1.refresh_from_db()
    assert a1.status == "queued" and a1.error_code == "timeout" and a1.attempts == 1
    assert a1.next_attempt_at > timezone.now()
    outbox_process(connection_id=connection.pk, port=network)
    assert Message.objects.get(pk=b1.pk).status == "sent", "another chat is not held up"
    assert Message.objects.get(pk=a2.pk).status == "queued", "a2 waits behind a1 in its chat"
    Message.objects.filter(pk=a1.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    outbox_process(connection_id=connection.pk, port=network)
    a1.refresh_from_db()
    assert a1.status == "sent" and a1.attempts == 2 and a1.error_code == ""
    order = list(phone.deliveries().filter(chat_jid=CHAT_A).values_list("wa_message_id", flat=True))
    assert order == [a1.wa_message_id, Message.objects.get(pk=a2.pk).wa_message_id]


def test_transient_failures_give_up_after_the_attempt_limit(phone, settings):
    settings.WILDCAT_SEND_MAX_ATTEMPTS = 2
    message = queue(phone.connection, CHAT_A, "x")
    from messaging.outbox import outbox_process

    class Down:
        sends_with_our_ids = True

        def send_message(self, message):
            raise DriverError("not_connected", "offline", permanent=False)

    for _ in range(2):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
        outbox_process(connection_id=phone.connection.pk, port=Down())
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "not_connected" and message.attempts == 2


def test_permanent_failure_fails_with_its_code(phone):
    message = queue(phone.connection, "15550001234@s.whatsapp.net", "nobody there")
    ok = queue(phone.connection, CHAT_A, "fine")
    phone.process()
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "not_on_whatsapp" and message.failed_at
    assert Message.objects.get(pk=ok.pk).status == "sent"


def test_a_message_left_sending_by_a_dead_owner_is_sent_once_with_its_id(phone):
    message = queue(phone.connection, CHAT_A, "half sent")
    phone.process()
    # The old owner got it out but died before recording it: the row is still ``sending``.
    Message.objects.filter(pk=message.pk).update(status="sending", sent_at=None)
    assert phone.process() == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert list(phone.deliveries().values_list("wa_message_id", flat=True)) == [message.wa_message_id]


def test_a_receipt_that_beats_the_sent_record_is_not_downgraded(phone):
    message = queue(phone.connection, CHAT_A, "fast")
    connection_id = phone.connection.pk

    class FastReceipts:
        sends_with_our_ids = True

        def send_message(self, outbound):
            result = phone.driver.send_message(outbound)
            receipt = Receipt((outbound.wa_message_id,), outbound.chat_jid, ReceiptType.DELIVERED, timezone.now())
            assert message_apply_receipt(connection_id=connection_id, receipt=receipt) == 1
            return result

    from messaging.outbox import outbox_process

    assert outbox_process(connection_id=connection_id, port=FastReceipts()) == 1
    message.refresh_from_db()
    assert message.status == "delivered" and message.sent_at is not None


class NetworkChosenIds:
    """A port like the neonize driver: WhatsApp picks the message id, whatever id was asked for."""

    sends_with_our_ids = False

    def __init__(self, driver) -> None:
        self.driver = driver
        self.used: dict[str, str] = {}

    def send_message(self, outbound):
        from dataclasses import replace

        from wildcat.whatsapp import SendResult, generate_message_id

        network_id = self.used.setdefault(outbound.wa_message_id, generate_message_id())
        result = self.driver.send_message(replace(outbound, wa_message_id=network_id))
        return SendResult(wa_message_id=network_id, timestamp=result.timestamp)


def test_the_id_the_network_used_is_stored_so_receipts_match(phone):
    first, second = queue(phone.connection, CHAT_A, "one"), queue(phone.connection, CHAT_B, "two")
    pregenerated = (first.wa_message_id, second.wa_message_id)
    port = NetworkChosenIds(phone.driver)
    from messaging.outbox import outbox_process

    assert outbox_process(connection_id=phone.connection.pk, port=port) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.wa_message_id, second.wa_message_id) == (port.used[pregenerated[0]], port.used[pregenerated[1]])
    assert first.wa_message_id not in pregenerated and second.status == "sent"
    assert sorted(phone.deliveries().values_list("wa_message_id", flat=True)) == sorted(
        [first.wa_message_id, second.wa_message_id]
    )
    assert phone.deliver_receipts() > 0
    assert set(Message.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"read"}


def test_a_network_id_already_taken_keeps_the_message_and_the_batch(phone):
    taken = queue(phone.connection, CHAT_B, "already here")
    message = queue(phone.connection, CHAT_A, "clash")
    Message.objects.filter(pk=taken.pk).update(status="sent")

    class Clashing:
        sends_with_our_ids = False  # the network's own id comes back

        def send_message(self, outbound):
            from wildcat.whatsapp import SendResult

            result = phone.driver.send_message(outbound)
            return SendResult(wa_message_id=taken.wa_message_id, timestamp=result.timestamp)

    from messaging.outbox import outbox_process

    pregenerated = message.wa_message_id
    assert outbox_process(connection_id=phone.connection.pk, port=Clashing()) == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.wa_message_id == pregenerated
