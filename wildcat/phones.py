"""The one phone-number parser: international numbers, checked against each country's numbering plan.

Everything that takes a phone number (sends, contacts, number checks, pairing codes, the admin's
forms) goes through ``phone_parse``. The ``phonenumbers`` library knows the country codes, lengths
and ranges; its own exception texts ("(0) Could not interpret numbers after plus-sign.") never
reach a user: every refusal says what format is expected, with an example.
"""

from __future__ import annotations

import re

import phonenumbers

from wildcat.errors import AppError, ErrorCode

EXAMPLE = "+4915112345678"
FORMAT_HINT = f"Write it in international format, + then the country code and the number, e.g. {EXAMPLE}."
MAX_LENGTH = 32
# What people type around digits: spaces, dots, dashes and brackets. Letters are never a phone number.
_ALLOWED = re.compile(r"^\+?[\d\s().-]+$")


def _refusal(value: str) -> AppError:
    shown = value if len(value) <= MAX_LENGTH else value[:MAX_LENGTH] + "…"
    return AppError(ErrorCode.INVALID_PHONE_NUMBER, f"Not a valid phone number: {shown!r}. {FORMAT_HINT}")


def phone_parse(value: str) -> phonenumbers.PhoneNumber:
    """A valid international number; the leading + may be left out, the country code may not."""
    raw = (value or "").strip()
    if not raw:
        raise AppError(ErrorCode.INVALID_PHONE_NUMBER, f"A phone number is required. {FORMAT_HINT}")
    if len(raw) > MAX_LENGTH or not _ALLOWED.match(raw):
        raise _refusal(raw)
    digits = re.sub(r"\D", "", raw)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        raise _refusal(raw) from None
    if not phonenumbers.is_valid_number(number):
        raise _refusal(raw)
    return number


def phone_e164(value: str) -> str:
    """The number in E.164, e.g. ``+4915112345678``."""
    return phonenumbers.format_number(phone_parse(value), phonenumbers.PhoneNumberFormat.E164)


def phone_digits(value: str) -> str:
    """The number's digits with the country code and no +, as WhatsApp JIDs spell it."""
    return phone_e164(value)[1:]
