"""The sandbox phone driven directly: QR rotation and timeout, scan, resume, sends, receipts, injections."""

from __future__ import annotations

import base64
import re
import time

import pytest

from accounts.models import SandboxCredential, SandboxDelivery
from accounts.runtime.drivers.sandbox import SandboxDriver
from tests.accounts.factories import ConnectionFactory, SandboxCredentialFactory
from wildcat.whatsapp import DriverError, DriverEventType, MediaPayload, MessageType, OutboundMessage, ReceiptType

pytestmark = pytest.mark.django_db
QR_PATTERN = re.compile(r"^2@[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}$")


@pytest.fixture(autouse=True)
def fast_sandbox(settings):
    settings.WILDCAT_SANDBOX_QR_FIRST_SECONDS = 6.0
    settings.WILDCAT_SANDBOX_QR_NEXT_SECONDS = 2.0
    settings.WILDCAT_SANDBOX_QR_CODES = 3
    settings.WILDCAT_SANDBOX_CONNECT_SECONDS = 0.5
    settings.WILDCAT_SANDBOX_DELIVERED_SECONDS = 0.3
    settings.WILDCAT_SANDBOX_READ_SECONDS = 1.0
    settings.WILDCAT_SANDBOX_KEEPALIVE_SECONDS = 30.0
    settings.WILDCAT_SANDBOX_BAN_SECONDS = 60.0


class Phone:
    """A driver plus the events it emitted."""

    def __init__(self, connection_id: int) -> None:
        self.events: list = []
        self.driver = SandboxDriver(connection_id=connection_id, emit=self.events.append)

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def later(self, seconds: float) -> None:
        self.driver.tick(time.monotonic() + seconds)


def _online_phone() -> Phone:
    credential = SandboxCredentialFactory()
    phone = Phone(credential.connection_id)
    phone.driver.start()
    phone.later(0.6)
    assert phone.types() == [DriverEventType.CONNECTED]
    phone.events.clear()
    return phone


def _text(to: str = "4915112345678@s.whatsapp.net", wa_id: str = "3EB0AAAA0000000000000001") -> OutboundMessage:
    return OutboundMessage(wa_message_id=wa_id, chat_jid=to, type=MessageType.TEXT, text="hello")


def test_qr_codes_rotate_then_the_login_times_out():
    phone = Phone(ConnectionFactory().pk)
    phone.driver.start()
    first = phone.events[0]
    assert first.type == DriverEventType.QR and QR_PATTERN.match(first.qr), first.qr
    assert first.detail["expires_in"] == 6.0
    phone.later(5.5)
    assert len(phone.events) == 1, "the first code lives the full first lifetime"
    phone.later(6.1)
    second = phone.events[1]
    assert second.type == DriverEventType.QR and second.qr != first.qr and second.detail["expires_in"] == 2.0
    # The keys stay the same across codes, only the reference changes (as on WhatsApp).
    assert second.qr.split(",")[1:] == first.qr.split(",")[1:]
    phone.later(8.2)
    phone.later(10.3)
    assert phone.types() == [DriverEventType.QR] * 3 + [DriverEventType.DISCONNECTED]
    assert phone.events[-1].reason == "qr_timeout" and phone.events[-1].detail["auth_failed"] is True
    phone.later(60)
    assert len(phone.events) == 4, "nothing more after the timeout"
    with pytest.raises(DriverError) as excinfo:
        phone.driver.call("scan", {})
    assert excinfo.value.code == "not_pending"


def test_scan_pairs_connects_and_stores_credentials():
    connection = ConnectionFactory()
    phone = Phone(connection.pk)
    phone.driver.start()
    result = phone.driver.call("scan", {})
    assert phone.types() == [DriverEventType.QR, DriverEventType.PAIRED]
    account = phone.events[1].account
    assert account.phone_number == result["phone_number"] and account.phone_number.startswith("+1555777")
    assert account.whatsapp_id.endswith("@s.whatsapp.net")
    stored = SandboxCredential.objects.get(connection=connection)
    assert stored.whatsapp_id == account.whatsapp_id
    phone.later(0.2)
    assert phone.types()[-1] == DriverEventType.PAIRED, "connects only after the connect delay"
    phone.later(0.6)
    assert phone.types()[-1] == DriverEventType.CONNECTED
    assert phone.driver.is_logged_in()


def test_resume_from_stored_credentials_needs_no_qr():
    credential = SandboxCredentialFactory()
    phone = Phone(credential.connection_id)
    phone.driver.start()
    assert phone.events == []
    phone.later(0.6)
    assert phone.types() == [DriverEventType.CONNECTED]
    assert phone.events[0].account.whatsapp_id == credential.whatsapp_id


def test_pair_code_then_scan_links_that_phone():
    phone = Phone(ConnectionFactory().pk)
    phone.driver.start()
    code = phone.driver.request_pair_code("4915112345678")
    assert len(code) == 8 and code.isalnum() and code.upper() == code
    with pytest.raises(DriverError) as excinfo:
        phone.driver.request_pair_code("15550001234")
    assert excinfo.value.code == "not_on_whatsapp" and excinfo.value.permanent
    result = phone.driver.call_scan()
    assert result["phone_number"] == "+4915112345678"


def test_sends_are_idempotent_per_message_id_even_across_owners():
    phone = _online_phone()
    first = phone.driver.send_message(_text())
    again = phone.driver.send_message(_text())
    assert first.wa_message_id == again.wa_message_id == "3EB0AAAA0000000000000001"
    # A new owner (another worker) resends the same message after a failover.
    successor = Phone(phone.driver.connection_id)
    successor.driver.start()
    successor.later(0.6)
    successor.driver.send_message(_text())
    rows = SandboxDelivery.objects.filter(connection_id=phone.driver.connection_id)
    assert rows.count() == 1
    assert rows.get().text == "hello"


def test_receipts_follow_a_send():
    phone = _online_phone()
    phone.driver.send_message(_text())
    phone.later(0.1)
    assert phone.events == []
    phone.later(0.4)
    assert [e.receipt.type for e in phone.events] == [ReceiptType.DELIVERED]
    assert phone.events[0].receipt.wa_message_ids == ("3EB0AAAA0000000000000001",)
    phone.later(1.2)
    assert [e.receipt.type for e in phone.events] == [ReceiptType.DELIVERED, ReceiptType.READ]
    assert SandboxDelivery.objects.get(wa_message_id="3EB0AAAA0000000000000001").read is True
    phone.later(5)
    assert len(phone.events) == 2, "each receipt is emitted once"


def test_not_on_whatsapp_numbers_and_unknown_groups_fail_permanently():
    phone = _online_phone()
    with pytest.raises(DriverError) as excinfo:
        phone.driver.send_message(_text(to="15550001234@s.whatsapp.net"))
    assert excinfo.value.code == "not_on_whatsapp" and excinfo.value.permanent
    with pytest.raises(DriverError) as excinfo:
        phone.driver.send_message(_text(to="120363000000000000@g.us"))
    assert excinfo.value.code == "group_not_found"
    assert not SandboxDelivery.objects.exists()
    checked = phone.driver.check_numbers(["+1 555 000 1234", "+49 151 12345678", "abc"])
    assert [c["on_whatsapp"] for c in checked] == [False, True, False]
    assert checked[1]["jid"] == "4915112345678@s.whatsapp.net"


def test_sending_while_offline_is_a_transient_error():
    phone = Phone(ConnectionFactory().pk)
    phone.driver.start()
    with pytest.raises(DriverError) as excinfo:
        phone.driver.send_message(_text())
    assert excinfo.value.code == "not_connected" and not excinfo.value.permanent


def test_edit_revoke_read_presence_and_groups():
    phone = _online_phone()
    phone.driver.send_message(_text())
    chat = "4915112345678@s.whatsapp.net"
    edit = phone.driver.edit_message(chat_jid=chat, wa_message_id="3EB0AAAA0000000000000001", new_text="edited")
    assert edit.wa_message_id != "3EB0AAAA0000000000000001"
    phone.driver.revoke_message(chat_jid=chat, sender_jid="", wa_message_id="3EB0AAAA0000000000000001")
    row = SandboxDelivery.objects.get()
    assert (row.edited_text, row.revoked) == ("edited", True)
    with pytest.raises(DriverError):
        phone.driver.edit_message(chat_jid=chat, wa_message_id="3EB0MISSING", new_text="x")
    phone.driver.mark_read(chat_jid=chat, sender_jid=chat, wa_message_ids=["X"])
    phone.driver.send_presence(chat_jid=chat, state="composing")
    with pytest.raises(DriverError):
        phone.driver.send_presence(chat_jid=chat, state="dancing")
    groups = phone.driver.call("list_groups", {})["results"]
    assert len(groups) == 2 and all(g["jid"].endswith("@g.us") for g in groups)
    info = phone.driver.call("group_info", {"group_jid": groups[0]["jid"]})
    assert info["participant_count"] == 3 and info["participants"][0]["is_admin"] is True
    # Sending to one of the account's own groups works.
    phone.driver.send_message(_text(to=groups[0]["jid"], wa_id="3EB0AAAA0000000000000002"))


def test_injected_messages_reach_the_sink_with_media():
    phone = _online_phone()
    png = b"\x89PNG fake bytes"
    result = phone.driver.call(
        "inject_message",
        {
            "sender": "+49 151 12345678",
            "type": "image",
            "text": "a caption",
            "media_base64": base64.b64encode(png).decode(),
            "mimetype": "image/png",
            "push_name": "Alice",
        },
    )
    message = phone.events[-1].message
    assert phone.events[-1].type == DriverEventType.MESSAGE
    assert message.wa_message_id == result["wa_message_id"]
    assert message.sender_jid == "4915112345678@s.whatsapp.net" and not message.from_me
    assert message.type == MessageType.IMAGE and message.media == MediaPayload(content=png, mimetype="image/png")
    with pytest.raises(DriverError):
        phone.driver.call("inject_message", {"sender": "+49151", "media_base64": "***"})


def test_injected_disconnect_reconnects_by_itself():
    phone = _online_phone()
    phone.driver.call("inject_disconnect", {"reason": "network_down"})
    assert phone.events[-1].type == DriverEventType.DISCONNECTED and phone.events[-1].reason == "network_down"
    with pytest.raises(DriverError):
        phone.driver.send_message(_text())
    phone.later(0.6)
    assert phone.events[-1].type == DriverEventType.CONNECTED


def test_injected_ban_and_logout():
    phone = _online_phone()
    phone.driver.call("inject_ban", {"seconds": 2, "code": 102})
    ban = phone.events[-1]
    assert ban.type == DriverEventType.TEMPORARY_BAN and ban.detail == {"code": 102, "expires_in": 2.0}
    phone.later(1)
    assert phone.events[-1] is ban, "still banned"
    phone.later(2.1)
    assert phone.events[-1].type == DriverEventType.CONNECTED
    phone.driver.call("inject_logout", {})
    assert phone.events[-1].type == DriverEventType.LOGGED_OUT
    assert not SandboxCredential.objects.filter(connection_id=phone.driver.connection_id).exists()
    assert not phone.driver.is_logged_in()


def test_logout_and_delete_session_data():
    phone = _online_phone()
    phone.driver.send_message(_text())
    phone.driver.logout()
    assert phone.events[-1].type == DriverEventType.LOGGED_OUT
    assert not SandboxCredential.objects.exists()
    assert SandboxDelivery.objects.count() == 1
    phone.driver.delete_session_data()
    assert not SandboxDelivery.objects.exists()


def test_unknown_call_is_refused():
    phone = _online_phone()
    with pytest.raises(DriverError) as excinfo:
        phone.driver.call("format_disk", {})
    assert excinfo.value.code == "unsupported_operation"
