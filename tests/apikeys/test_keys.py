"""The key format: prefix, base62 body, checksum, and storage of the digest only."""

from __future__ import annotations

import hashlib
import re

import pytest

from apikeys import keys
from apikeys.services import apikey_create


def test_generated_key_has_prefix_base62_body_and_checksum():
    key = keys.generate_key()
    assert re.fullmatch(r"wc_live_[0-9A-Za-z]{32}[0-9A-Za-z]{6}", key)
    body = key[len("wc_live_") : len("wc_live_") + 32]
    assert key.endswith(keys.checksum(body))
    assert keys.is_well_formed(key)


def test_keys_are_random():
    assert len({keys.generate_key() for _ in range(200)}) == 200


def test_one_changed_character_fails_the_checksum():
    key = keys.generate_key()
    position = len("wc_live_") + 5
    replacement = "A" if key[position] != "A" else "B"
    typo = key[:position] + replacement + key[position + 1 :]
    assert not keys.is_well_formed(typo)


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "wc_live_",
        "wc_test_" + "a" * 38,
        "wc_live_" + "a" * 37,  # one short
        "wc_live_" + "a" * 39,  # one long
        "wc_live_" + "é" * 38,  # non-ASCII
        "wc_live_" + "a" * 32 + "!!!!!!",
        "x" * 10_000,
    ],
)
def test_malformed_candidates_are_rejected_without_hashing(candidate):
    assert not keys.is_well_formed(candidate)


def test_hash_is_plain_sha256_independent_of_secret_key(settings):
    key = keys.generate_key()
    first = keys.hash_key(key)
    settings.SECRET_KEY = "rotated-" + "x" * 40
    assert keys.hash_key(key) == first == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.django_db
def test_only_digest_and_display_prefix_are_stored():
    api_key, secret = apikey_create(label="stored")
    api_key.refresh_from_db()
    assert api_key.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert api_key.token_prefix == secret[:14]
    assert secret not in {str(value) for value in api_key.__dict__.values()}


@pytest.mark.django_db
def test_duplicate_and_blank_labels_are_refused():
    from wildcat.errors import AppError, ErrorCode

    apikey_create(label="twice")
    with pytest.raises(AppError) as duplicate:
        apikey_create(label="twice")
    assert duplicate.value.code == ErrorCode.INVALID_REQUEST and "label" in duplicate.value.details
    with pytest.raises(AppError) as blank:
        apikey_create(label="   ")
    assert blank.value.code == ErrorCode.INVALID_REQUEST and "label" in blank.value.details
