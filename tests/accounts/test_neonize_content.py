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
from tests.accounts.neonize_binding import FakeBinding, on_binding
from tests.accounts.test_neonize_translation import ME, PEER, STAMP_MS, jid, message_event, roundtrip, source
from tests.webhooks.factories import EndpointFactory
from webhooks.catalog import DESCRIPTIONS
from webhooks.models import WebhookEvent
from wildcat.whatsapp import DriverEvent, DriverEventType, MessageType, OutboundMessage

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


@pytest.mark.parametrize(
    "wrapper", ["groupMentionedMessage", "spoilerMessage", "botForwardedMessage", "limitSharingMessage"]
)
def test_wrappers_whatsmeow_leaves_in_place_are_unwrapped(wrapper):
    # UnwrapRaw (events.go:372-420) removes only its own list of wrappers; these FutureProofMessage
    # fields reach neonize as they were sent.
    inner = e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text="@team look"))
    msg = _translate(e2e.Message(**{wrapper: e2e.FutureProofMessage(message=inner)}))
    assert (msg.type, msg.text) == (MessageType.TEXT, "@team look")


@pytest.mark.parametrize("field", ["pollCreationMessage", "pollCreationMessageV3", "pollCreationMessageV5"])
def test_every_poll_version_is_a_poll(field):
    poll = e2e.PollCreationMessage(
        name="Lunch?", options=[e2e.PollCreationMessage.Option(optionName=name) for name in ("Yes", "No")]
    )
    msg = _translate(e2e.Message(**{field: poll}))
    assert (msg.type, msg.content["options"]) == (MessageType.POLL, ["Yes", "No"])
    wrapped = e2e.Message(pollCreationMessageV4=e2e.FutureProofMessage(message=e2e.Message(**{field: poll})))
    assert _translate(wrapped).type == MessageType.POLL


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
    """Keeps poll secrets and decrypts votes the way whatsmeow does, answering as goneonize main.go:2415-2431.

    whatsmeow stores a sent message's ``messageSecret`` under (chat, our JID, id) (send.go:390-391);
    DecryptPollVote finds the poll's author from the vote's key (msgsecret.go:70-92: ``fromMe`` means
    the voter wrote the poll; in a one-to-one chat ``remoteJID`` names the author, in a group
    ``participant`` does) and refuses a vote whose poll secret it never stored (msgsecret.go:108-112).
    """

    selected: list[bytes] = []

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[tuple[str, str, str]] = set()

    def do_SendMessage(self, uuid, to, to_len, message, message_len):
        answer = super().do_SendMessage(uuid, to, to_len, message, message_len)
        sent = e2e.Message.FromString(message)
        if sent.messageContextInfo.messageSecret:
            chat = npb.JID.FromString(to).User
            self.secrets.add((chat, ME, npb.SendMessageReturnFunction.FromString(answer).SendResponse.ID))
        return answer

    def do_DecryptPollVote(self, uuid, message, size):
        assert len(message) == size
        vote = npb.Message.FromString(message)
        key = vote.Message.pollUpdateMessage.pollCreationMessageKey
        source = vote.Info.MessageSource
        if key.fromMe:
            author = source.Sender.User
        elif source.Chat.Server in ("s.whatsapp.net", "lid"):
            author = key.remoteJID.split("@", 1)[0]
        else:
            author = key.participant.split("@", 1)[0]
        if (source.Chat.User, author, key.ID) not in self.secrets:
            # errors.go:148 wrapped by msgsecret.go:252
            error = "failed to decrypt poll vote: original message secret key not found"
            return npb.ReturnFunctionWithError(Error=error).SerializeToString()
        answer = npb.ReturnFunctionWithError(PollVoteMessage=e2e.PollVoteMessage(selectedOptions=self.selected))
        return answer.SerializeToString()


def _vote_event(poll_id: str, voter: str, sent_ms: int, vote_id: str) -> npb.Message:
    """A vote in the one-to-one chat with PEER on a poll we sent, from PEER or from our own phone.

    The voter's client builds the poll's key from its own side (send.go:494-507 BuildMessageKey):
    PEER's key names us as ``remoteJID`` with ``fromMe`` false; a vote from our phone arrives
    IsFromMe with our device as sender (message.go:150-161) and a key with ``fromMe`` true.
    """
    if voter == ME:
        src = source(chat=jid(PEER), sender=jid(ME, device=2), from_me=True)
        key = MessageKey(remoteJID=f"{PEER}@s.whatsapp.net", fromMe=True, ID=poll_id)
    else:
        src = source(chat=jid(voter), sender=jid(voter))
        key = MessageKey(remoteJID=f"{ME}@s.whatsapp.net", fromMe=False, ID=poll_id)
    # msgsecret.go:245-260: DecryptPollVote reads pollUpdateMessage.vote (an encrypted PollEncValue)
    # and pollCreationMessageKey, the key of the poll being voted on.
    update = e2e.PollUpdateMessage(
        pollCreationMessageKey=key,
        vote=e2e.PollEncValue(encPayload=b"\x01" * 32, encIV=b"\x02" * 12),
        senderTimestampMS=sent_ms,
    )
    return roundtrip(message_event(e2e.Message(pollUpdateMessage=update), msg_id=vote_id, src=src))


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
    events: list = []
    driver = on_binding(NeonizeDriver(connection_id=connection.pk, emit=events.append), binding)
    details = {"name": "Lunch?", "options": ["Yes", "No", "Later"], "selectable_count": 1}
    sent = driver.send_message(
        OutboundMessage(
            wa_message_id="3EB0ASKED", chat_jid=f"{PEER}@s.whatsapp.net", type=MessageType.POLL, content=details
        )
    )
    poll = Message.objects.create(
        api_key=api_key,
        connection=connection,
        direction="outbound",
        from_me=True,
        wa_message_id=sent.wa_message_id,  # whatsmeow chose it (send.go:210-211)
        chat_jid=f"{PEER}@s.whatsapp.net",
        type="poll",
        text="Lunch?",
        content=details,
        status="delivered",
    )

    def vote(selected: list[str], sent_ms: int, vote_id: str, voter: str = PEER, poll_id: str = poll.wa_message_id):
        binding.selected = [_sha(option) for option in selected]
        driver._on_message(None, _vote_event(poll_id, voter, sent_ms, vote_id))
        assert not events  # decrypting is a Go call: it waits for the command thread
        driver.tick(0.0)
        for event in events:
            handle_driver_event(connection_id=connection.pk, event=event)
        events.clear()

    vote(["Yes"], STAMP_MS, "V1")
    vote(["Later"], STAMP_MS + 10, "V2", voter=ME)
    vote(["No"], STAMP_MS + 20, "V3")  # Ana changes her mind: her whole selection is replaced
    vote(["Yes"], STAMP_MS + 5, "V4")  # an older vote arriving late changes nothing
    vote(["Yes"], STAMP_MS + 30, "V5", poll_id="3EB0NEVERSEEN")  # no secret for that poll: dropped
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
    assert len(decrypted) == 5  # the fifth was refused by whatsmeow and changed nothing
    key = npb.Message.FromString(decrypted[0][1]).Message.pollUpdateMessage.pollCreationMessageKey
    assert (key.ID, key.fromMe) == (poll.wa_message_id, False)
