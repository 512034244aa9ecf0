"""Turning a recipient as integrators write it (phone number or JID) into a WhatsApp JID."""

from __future__ import annotations

import functools
import re

from wildcat.errors import AppError, ErrorCode
from wildcat.phones import EXAMPLE, phone_digits

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
_USER_JID = re.compile(r"^(\d{5,20})(?::\d{1,3})?@(s\.whatsapp\.net|c\.us|lid)$")
_GROUP_JID = re.compile(r"^(\d{5,25}(?:-\d{5,15})?)@g\.us$")


@functools.lru_cache(maxsize=8192)
def recipient_to_jid(value: str) -> str:
    """A user JID (``digits@s.whatsapp.net``), a group JID (``…@g.us``), or a phone number."""
    raw = (value or "").strip()
    if "@" in raw:
        lowered = raw.lower()
        if _GROUP_JID.match(lowered):
            return lowered
        user = _USER_JID.match(lowered)
        if user:
            server = "lid" if user.group(2) == "lid" else USER_SERVER
            return f"{user.group(1)}@{server}"
        message = (
            f"{value[:160]!r} is not a WhatsApp user or group JID: use a phone number ({EXAMPLE}), "
            f"a user JID (4915112345678@s.whatsapp.net) or a group JID (…@g.us)."
        )
        raise AppError(ErrorCode.INVALID_RECIPIENT, message)
    return f"{phone_digits(raw)}@{USER_SERVER}"


def is_group_jid(jid: str) -> bool:
    return jid.endswith("@" + GROUP_SERVER)
