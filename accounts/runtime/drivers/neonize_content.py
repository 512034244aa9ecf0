"""Reads the WhatsApp message kinds beyond the basics: live locations, contact lists, group invites,
poll votes, and anything else as ``unknown`` with its raw protobuf, so no message is dropped unseen.

Pure functions over neonize's protobufs (no Go calls), used by the event translation and the driver.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from wildcat.whatsapp import InboundMessage, MessageType

# Fields that carry keys, sync state or metadata rather than something a person sent: a message made
# only of these is protocol traffic and is not stored. Poll votes are read by the driver on their own.
NOISE_FIELDS = frozenset(
    {
        "senderKeyDistributionMessage",
        "fastRatchetKeySenderKeyDistributionMessage",
        "messageContextInfo",
        "deviceSentMessage",
        "groupRootKeyShare",
        "rootSecretDistributeMessage",
        "stickerSyncRmrMessage",
        "messageHistoryNotice",
        "messageHistoryBundle",
        "placeholderMessage",
        "pollUpdateMessage",
    }
)


def quoted_id(part: Any) -> str:
    return part.contextInfo.stanzaID if part.HasField("contextInfo") else ""


def _live_location(part: e2e.LiveLocationMessage) -> dict[str, Any]:
    details = {
        "latitude": part.degreesLatitude,
        "longitude": part.degreesLongitude,
        "accuracy_meters": part.accuracyInMeters,
        "speed_mps": part.speedInMps,
        "heading_degrees": part.degreesClockwiseFromMagneticNorth,
        "sequence_number": part.sequenceNumber,
    }
    return {
        "type": MessageType.LIVE_LOCATION,
        "text": part.caption,
        "content": details,
        "quoted_wa_message_id": quoted_id(part),
    }


def _vcard_phone(vcard: str) -> str:
    if "waid=" not in vcard:
        return ""
    return "".join(ch for ch in vcard.split("waid=", 1)[1].split(":", 1)[0] if ch.isdigit())


def _contacts(part: e2e.ContactsArrayMessage) -> dict[str, Any]:
    contacts = [{"name": c.displayName, "phone": _vcard_phone(c.vcard), "vcard": c.vcard} for c in part.contacts]
    return {
        "type": MessageType.CONTACTS,
        "text": part.displayName,
        "content": {"contacts": contacts},
        "quoted_wa_message_id": quoted_id(part),
    }


def _group_invite(part: e2e.GroupInviteMessage) -> dict[str, Any]:
    expires = datetime.fromtimestamp(part.inviteExpiration, tz=UTC).isoformat() if part.inviteExpiration else None
    details = {
        "group_jid": part.groupJID,
        "group_name": part.groupName,
        "invite_code": part.inviteCode,
        "expires_at": expires,
    }
    return {
        "type": MessageType.GROUP_INVITE,
        "text": part.caption,
        "content": details,
        "quoted_wa_message_id": quoted_id(part),
    }


CONTENT_READERS = (
    ("liveLocationMessage", _live_location),
    ("contactsArrayMessage", _contacts),
    ("groupInviteMessage", _group_invite),
)


def unknown_content(message: e2e.Message) -> dict[str, Any] | None:
    """A message Wildcat does not read, as type ``unknown`` with its protobuf as JSON; None for protocol noise."""
    fields = sorted(field.name for field, _ in message.ListFields() if field.name not in NOISE_FIELDS)
    if not fields:
        return None
    raw = MessageToDict(message, preserving_proto_field_name=True)
    for name in NOISE_FIELDS:
        raw.pop(name, None)
    return {"type": MessageType.UNKNOWN, "content": {"fields": fields, "message": raw}}


# --- poll votes ---------------------------------------------------------------------------------
def is_poll_vote(message: e2e.Message) -> bool:
    return message.HasField("pollUpdateMessage")


def poll_vote_translate(
    event: npb.Message, vote: e2e.PollVoteMessage, *, chat_jid: str, sender_jid: str
) -> InboundMessage:
    """A decrypted vote: the voter's whole current selection (empty when withdrawn), as option hashes.

    WhatsApp sends each option as the SHA-256 of its name; the poll's stored options resolve them.
    """
    update = event.Message.pollUpdateMessage
    stamp_ms = update.senderTimestampMS or event.Info.Timestamp
    return InboundMessage(
        wa_message_id=event.Info.ID,
        chat_jid=chat_jid,
        sender_jid=sender_jid,
        from_me=event.Info.MessageSource.IsFromMe,
        is_group=event.Info.MessageSource.IsGroup,
        type=MessageType.POLL,
        timestamp=datetime.fromtimestamp(int(stamp_ms) / 1000, tz=UTC),
        push_name=event.Info.Pushname,
        content={"selected_option_hashes": [option.hex() for option in vote.selectedOptions]},
        votes_on_wa_message_id=update.pollCreationMessageKey.ID,
    )
