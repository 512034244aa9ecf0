"""Groups as the API shows them, read from the GroupInfo protobufs goneonize encodes (utils/encoder.go:131-152)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from neonize.proto import Neonize_pb2 as npb

from accounts.runtime.drivers.neonize_messages import jid_user_string
from accounts.runtime.drivers.neonize_translation import seconds_to_datetime

# time.Time{}.Unix() in Go: what goneonize encodes for a timestamp attribute WhatsApp left out
# (whatsmeow binary/attrs.go:116-123 returns the zero time.Time for a missing or 0 attribute).
GO_ZERO_TIME_UNIX = -62_135_596_800


def group_created_at(group: npb.GroupInfo) -> datetime | None:
    """When the group was created, as exactly as neonize 0.5.2 lets us know it.

    whatsmeow reads the integer ``creation`` attribute (group.go:746), but goneonize hands it over as
    a float32 of the Unix time (utils/encoder.go:149, Neonize.proto:171): today's times round to a
    multiple of 128 s. The subject's set time ``s_t`` (group.go:742) does arrive as an int64
    (encoder.go:47). A group named when it was created and not renamed since has its ``s_t`` inside
    the float32's rounding interval, and then ``s_t`` is the creation second. Otherwise the float32
    is all there is, within 64 s of the truth. Without a ``creation`` attribute there is no time.
    """
    approximate = float(group.GroupCreated)
    if approximate <= 0:  # Go's zero time: WhatsApp sent no creation time
        return None
    _, exponent = math.frexp(approximate)
    half_step = math.ldexp(1.0, exponent - 25)  # half a float32 step (24-bit significand)
    named_at = group.GroupName.NameSetAt
    if approximate - half_step <= named_at <= approximate + half_step:
        return seconds_to_datetime(named_at)
    return seconds_to_datetime(round(approximate))


def group_summary(group: npb.GroupInfo) -> dict[str, Any]:
    """A group as the API shows it (``created_at``: see ``group_created_at``)."""
    created_at = group_created_at(group)
    created = created_at.isoformat() if created_at else None
    return {
        "jid": jid_user_string(group.JID),
        "name": group.GroupName.Name,
        "topic": group.GroupTopic.Topic,
        "owner_jid": jid_user_string(group.OwnerPN if group.OwnerPN.User else group.OwnerJID),
        "created_at": created,
        "announce": group.GroupAnnounce.IsAnnounce,
        "locked": group.GroupLocked.isLocked,
        "participant_count": len(group.Participants),
    }


def group_details(group: npb.GroupInfo) -> dict[str, Any]:
    """The summary plus every participant, by phone-number JID where WhatsApp gave one."""
    info = group_summary(group)
    info["participants"] = [
        {
            "jid": jid_user_string(p.PhoneNumber if p.PhoneNumber.User else p.JID),
            "lid": jid_user_string(p.LID) if p.LID.User else "",
            "is_admin": p.IsAdmin,
            "is_super_admin": p.IsSuperAdmin,
            "display_name": p.DisplayName,
        }
        for p in group.Participants
    ]
    return info
