"""Message kinds beyond the basics (live location, contact lists, group invites, unknown) and poll votes.

Events are built with neonize's own protobuf classes, as goneonize hands them over, and go through
the real translation, the driver (with the Go binding faked) and the event sink into the database.
"""

from __future__ import annotations

import hashlib

import jsonschema
import pytest
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from accounts.models import WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.event_sink import handle_driver_event
from messaging.models import Message
from tests.accounts.neonize_binding import FakeBinding
from tests.accounts.test_neonize_translation import ME, PEER, STAMP_MS, jid, message_event, roundtrip, source
from tests.webhooks.factories import EndpointFactory
from webhooks.catalog import DESCRIPTIONS
from webhooks.models import WebhookEvent
from wildcat.whatsapp import DriverEvent, DriverEventType, MessageType

VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:{0}\nTEL;type=CELL;waid={1}:+{1}\nEND:VCARD"


def _translate(content: e2e.Message):
    from accounts.runtime.drivers.neonize_translation import message_translate

    return message_translate(roundtrip(message_event(content)))


def test_a_live_location_is_its_own_type():
    # whatsmeow hands liveLocationMessage over untouched (types/events/events.go UnwrapRaw, lines 372-420,
    # unwraps only wrappers); its fields are WAWebProtobufsE2E.LiveLocationMessage.
    live = e2e.LiveLocationMessage(
        degreesLatitude=-23.55, degreesLongitude=-46.63, accuracyInMeters=12, speedInMps=1.5, sequenceNumber=4
    )
    msg = _translate(e2e.Message(liveLocationMessage=live))
    assert msg.type == MessageType.LIVE_LOCATION
    assert (msg.content["latitude"], msg.content["longitude"], msg.content["accuracy_meters"]) == (-23.55, -46.63, 12)
    assert msg.content["sequence_number"] == 4


def test_a_multi_contact_card_keeps_every_contact():
    cards = [
        e2e.ContactMessage(displayName="Ana", vcard=VCARD.format("Ana", "5511911112222")),
        e2e.ContactMessage(displayName="Bia", vcard=VCARD.format("Bia", "5511933334444")),
    ]
    msg = _translate(
        e2e.Message(contactsArrayMessage=e2e.ContactsArrayMessage(displayName="2 contacts", contacts=cards))
    )
    assert (msg.type, msg.text) == (MessageType.CONTACTS, "2 contacts")
    assert [(c["name"], c["phone"]) for c in msg.content["contacts"]] == [
        ("Ana", "5511911112222"),
        ("Bia", "5511933334444"),
    ]


def test_a_group_invite_carries_the_group_the_code_and_its_expiry():
    invite = e2e.GroupInviteMessage(
        groupJID="120363025246125888@g.us", inviteCode="AbCdEf", inviteExpiration=1_767_830_400, groupName="Team"
    )
    msg = _translate(e2e.Message(groupInviteMessage=invite))
    assert msg.type == MessageType.GROUP_INVITE
    assert msg.content == {
        "group_jid": "120363025246125888@g.us",
        "group_name": "Team",
        "invite_code": "AbCdEf",
        "expires_at": "2026-01-08T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (
            e2e.Message(buttonsResponseMessage=e2e.ButtonsResponseMessage(selectedButtonID="b1")),
            "buttonsResponseMessage",
        ),
        (e2e.Message(listResponseMessage=e2e.ListResponseMessage(title="Menu")), "listResponseMessage"),
        (e2e.Message(eventMessage=e2e.EventMessage(name="Launch")), "eventMessage"),
        (e2e.Message(albumMessage=e2e.AlbumMessage(expectedImageCount=3)), "albumMessage"),
    ],
)
def test_anything_not_understood_is_stored_as_unknown_with_its_raw_protobuf(content, field):
    msg = _translate(content)
    assert msg.type == MessageType.UNKNOWN
    assert msg.content["fields"] == [field]
    assert field in msg.content["message"]


def test_an_associated_child_message_is_unwrapped_like_the_other_wrappers():
    # whatsmeow's UnwrapRaw (types/events/events.go lines 372-420) unwraps ephemeral, view-once and
    # document-with-caption wrappers but not associatedChildMessage (album items), so it arrives wrapped.
    child = e2e.FutureProofMessage(message=e2e.Message(imageMessage=e2e.ImageMessage(caption="one of three")))
    msg = _translate(e2e.Message(associatedChildMessage=child))
    assert (msg.type, msg.text) == (MessageType.IMAGE, "one of three")


def test_key_distribution_alone_is_still_not_a_message():
    skdm = e2e.SenderKeyDistributionMessage(groupID="120363025246125888@g.us", axolotlSenderKeyDistributionMessage=b"k")
    context = e2e.MessageContextInfo(messageSecret=b"s" * 32)
    assert _translate(e2e.Message(senderKeyDistributionMessage=skdm, messageContextInfo=context)) is None


# --- through the sink into the database -------------------------------------------------------------
@pytest.mark.django_db
def test_an_unknown_message_is_stored_and_fires_message_received(api_key):
    connection = WaConnection.objects.create(api_key=api_key, name="phone", driver="neonize")
    EndpointFactory(api_key=api_key)
    msg = _translate(e2e.Message(listResponseMessage=e2e.ListResponseMessage(title="Menu", description="pick")))
    handle_driver_event(connection_id=connection.pk, event=DriverEvent(type=DriverEventType.MESSAGE, message=msg))
    row = Message.objects.get(connection=connection)
    assert row.type == "unknown" and row.content["message"]["listResponseMessage"]["title"] == "Menu"
    data = WebhookEvent.objects.get(type="message.received").payload["data"]
    assert data["type"] == "unknown" and data["content"]["fields"] == ["listResponseMessage"]
    jsonschema.validate(data, DESCRIPTIONS["message.received"][1])


# --- poll votes ---------------------------------------------------------------------------------------
class PollBinding(FakeBinding):
    """DecryptPollVote answers as goneonize main.go lines 2415-2431 do: a ReturnFunctionWithError."""

    selected: list[bytes] = []

    def do_DecryptPollVote(self, uuid, message, size):
        assert len(message) == size
        answer = npb.ReturnFunctionWithError(PollVoteMessage=e2e.PollVoteMessage(selectedOptions=self.selected))
        return answer.SerializeToString()


def _vote_event(poll_id: str, voter: str, sent_ms: int, vote_id: str) -> npb.Message:
    # whatsmeow msgsecret.go lines 245-260: DecryptPollVote reads pollUpdateMessage.vote (an encrypted
    # PollEncValue) and pollCreationMessageKey, the key of the poll being voted on.
    update = e2e.PollUpdateMessage(
        pollCreationMessageKey=MessageKey(remoteJID=f"{PEER}@s.whatsapp.net", fromMe=True, ID=poll_id),
        vote=e2e.PollEncValue(encPayload=b"\x01" * 32, encIV=b"\x02" * 12),
        senderTimestampMS=sent_ms,
    )
    voter_jid = jid(voter)
    return roundtrip(message_event(e2e.Message(pollUpdateMessage=update), msg_id=vote_id, src=source(sender=voter_jid)))


def _sha(option: str) -> bytes:
    # whatsmeow msgsecret.go lines 309-316 (HashPollOptions): each selected option is sha256(name).
    return hashlib.sha256(option.encode()).digest()


@pytest.mark.django_db
def test_poll_votes_are_decrypted_tallied_on_the_poll_and_emitted(api_key, settings, tmp_path, monkeypatch):
    from neonize import client as neonize_client

    settings.DATA_DIR = tmp_path
    binding = PollBinding()
    monkeypatch.setattr(neonize_client, "gocode", binding)
    connection = WaConnection.objects.create(api_key=api_key, name="phone", driver="neonize")
    EndpointFactory(api_key=api_key)
    poll = Message.objects.create(
        api_key=api_key,
        connection=connection,
        direction="outbound",
        from_me=True,
        wa_message_id="3EB0POLL",
        chat_jid=f"{PEER}@s.whatsapp.net",
        type="poll",
        text="Lunch?",
        content={"name": "Lunch?", "options": ["Yes", "No", "Later"], "selectable_count": 1},
        status="delivered",
    )
    events: list = []
    driver = NeonizeDriver(connection_id=connection.pk, emit=events.append)
    driver.client = driver._client_build()
    driver._logged_in = True

    def vote(selected: list[str], sent_ms: int, vote_id: str, voter: str = PEER) -> None:
        binding.selected = [_sha(option) for option in selected]
        driver._on_message(None, _vote_event("3EB0POLL", voter, sent_ms, vote_id))
        assert not events  # decrypting is a Go call: it waits for the command thread
        driver.tick(0.0)
        for event in events:
            handle_driver_event(connection_id=connection.pk, event=event)
        events.clear()

    vote(["Yes"], STAMP_MS, "V1")
    vote(["Later"], STAMP_MS + 10, "V2", voter=ME)
    vote(["No"], STAMP_MS + 20, "V3")  # Ana changes her mind: her whole selection is replaced
    vote(["Yes"], STAMP_MS + 5, "V4")  # an older vote arriving late changes nothing
    poll.refresh_from_db()
    assert poll.content["tally"] == {"Yes": 0, "No": 1, "Later": 1}
    assert poll.content["votes"][f"{PEER}@s.whatsapp.net"]["options"] == ["No"]
    assert Message.objects.filter(connection=connection).count() == 1  # votes are not messages
    updates = [e.payload["data"] for e in WebhookEvent.objects.filter(type="message.updated").order_by("id")]
    for data in updates:
        jsonschema.validate(data, DESCRIPTIONS["message.updated"][1])  # the published schema
    assert [(e["change"], e["voter"], e["selected_options"]) for e in updates] == [
        ("poll_vote", f"{PEER}@s.whatsapp.net", ["Yes"]),
        ("poll_vote", f"{ME}@s.whatsapp.net", ["Later"]),
        ("poll_vote", f"{PEER}@s.whatsapp.net", ["No"]),
    ]
    assert updates[-1]["content"]["tally"] == {"Yes": 0, "No": 1, "Later": 1}
    decrypted = [args for name, args in binding.calls if name == "DecryptPollVote"]
    assert len(decrypted) == 4
    assert npb.Message.FromString(decrypted[0][1]).Message.pollUpdateMessage.pollCreationMessageKey.ID == "3EB0POLL"
