"""Turning a recipient as integrators write it (phone number or JID) into a WhatsApp JID."""

from __future__ import annotations

import functools
import re

import phonenumbers

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
_USER_JID = re.compile(r"^(\d{5,20})(?::\d{1,3})?@(s\.whatsapp\.net|c\.us|lid)$")
_GROUP_JID = re.compile(r"^(\d{5,25}(?:-\d{5,15})?)@g\.us$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]{5,32}$")


class InvalidRecipient(ValueError):
    """The recipient is neither a valid phone number nor a user or group JID."""


def phone_to_digits(value: str) -> str:
    """Validate an E.164 number (or bare digits with country code) and return its digits."""
    raw = (value or "").strip()
    if not _PHONE_CHARS.match(raw):
        raise InvalidRecipient(f"{value!r} is not a phone number")
    digits = re.sub(r"\D", "", raw)
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(f"{value!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidRecipient(f"{value!r} is not a valid phone number")
    return f"{parsed.country_code}{parsed.national_number}"


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
        raise InvalidRecipient(f"{value!r} is not a WhatsApp user or group JID")
    return f"{phone_to_digits(raw)}@{USER_SERVER}"


def is_group_jid(jid: str) -> bool:
    return jid.endswith("@" + GROUP_SERVER)
