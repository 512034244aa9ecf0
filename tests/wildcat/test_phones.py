"""The one phone parser: what it accepts, how it refuses, and that the README's numbers pass it."""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pytest

from messaging.recipients import recipient_to_jid
from wildcat.errors import AppError, ErrorCode
from wildcat.phones import EXAMPLE, phone_digits, phone_e164, phone_parse

ROOT = Path(__file__).resolve().parents[2]
# A number written with its + and at least 8 digits, unless it trails off ("+1 555 000 …" is a prefix).
README_NUMBER = re.compile(r"(?<![\w/+])\+\d[\d ().-]*\d(?![\d…])(?! …)")
# JSON fields that carry a phone number (or, for "to", a JID) in the README's request examples.
README_FIELD = re.compile(r'"(to|phone|sender)"\s*:\s*"([^"]+)"')
PARSER_LEAK = re.compile(r"\(\d\)|plus-sign|interpret|NumberParseException", re.IGNORECASE)


@pytest.mark.parametrize(
    "written",
    ["+4915112345678", "4915112345678", "+49 151 12345678", "+49 (151) 123-45678", " +49.151.1234.5678 "],
)
def test_international_numbers_with_or_without_the_plus_are_accepted(written):
    assert phone_e164(written) == "+4915112345678"
    assert phone_digits(written) == "4915112345678"


def test_numbers_keep_their_leading_zeros_after_the_country_code():
    # Italian fixed lines keep the 0 after +39; E.164 formatting, not digit arithmetic, keeps it right.
    assert phone_e164("+39 06 6982 1234") == "+390669821234"


def _parser_text(written: str) -> str:
    """What phonenumbers itself says about the input, to prove none of it reaches the user."""
    try:
        number = phonenumbers.parse("+" + re.sub(r"\D", "", written), None)
    except phonenumbers.NumberParseException as exc:
        return str(exc)
    return "" if phonenumbers.is_valid_number(number) else "invalid"


@pytest.mark.parametrize(
    "written",
    [
        "12345",
        "0",
        "0151 12345678",  # typed without a plus: the parser says "(0) Could not interpret numbers after plus-sign."
        "+1555",
        "+1 555 000 1234",  # fictional 555 numbers are not valid in the North American plan
        "+99912345678",  # no such country code
        "+4915112345678901234",
        "not a number",
        "+49 151 1234567a",
        "+",
        "1" * 40,
    ],
)
def test_a_bad_number_is_told_the_format_with_an_example(written):
    assert _parser_text(written), "each case must be one the parser itself refuses, with its own words"
    with pytest.raises(AppError) as refused:
        phone_parse(written)
    error = refused.value
    assert error.code == ErrorCode.INVALID_PHONE_NUMBER and error.http_status == 400
    assert "international format" in error.message and EXAMPLE in error.message
    assert not PARSER_LEAK.search(error.message), error.message


def test_an_empty_number_is_asked_for():
    with pytest.raises(AppError) as refused:
        phone_parse("   ")
    assert refused.value.message.startswith("A phone number is required.") and EXAMPLE in refused.value.message


def test_a_bad_recipient_jid_names_the_accepted_forms():
    with pytest.raises(AppError) as refused:
        recipient_to_jid("abc@example.com")
    assert refused.value.code == ErrorCode.INVALID_RECIPIENT
    assert EXAMPLE in refused.value.message and "@g.us" in refused.value.message


def _readme_numbers() -> tuple[list[str], list[tuple[str, str]]]:
    text = (ROOT / "README.md").read_text()
    written = [match.group(0) for match in README_NUMBER.finditer(text)]
    numbers = [number for number in written if len(re.sub(r"\D", "", number)) >= 8]
    return numbers, README_FIELD.findall(text)


def test_every_phone_number_in_the_readme_is_accepted():
    numbers, fields = _readme_numbers()
    assert EXAMPLE in numbers, "the README shows the format with the same example the errors give"
    for number in numbers:
        assert phone_e164(number).startswith("+"), number
    for name, value in fields:
        if name == "to":
            assert recipient_to_jid(value), value
        elif name == "phone":
            assert phone_e164(value), value
        else:  # the sandbox's sender: a phone number or a user JID
            assert recipient_to_jid(value).endswith("@s.whatsapp.net"), value


def test_the_readme_number_pattern_finds_numbers_and_skips_prefixes():
    sample = 'call +49 151 12345678, or {"to": "4915112345678"}; +1 555 000 … and `+1555777` are prefixes'
    found = [match.group(0) for match in README_NUMBER.finditer(sample)]
    assert [n for n in found if len(re.sub(r"\D", "", n)) >= 8] == ["+49 151 12345678"]
    assert README_FIELD.findall(sample) == [("to", "4915112345678")]
