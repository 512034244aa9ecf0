"""The API key format: ``wc_live_`` + 32 base62 characters + a 6-character CRC32 checksum.

The checksum lets the server (and secret scanners) reject a mistyped key without a database hit.
Only the SHA-256 digest and the display prefix are ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib

KEY_PREFIX = "wc_live_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
MAX_KEY_LENGTH = 128
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_KEY_SHAPE = re.compile(rf"^{KEY_PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH}}}[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{random_part}{checksum(random_part)}"


def is_well_formed(candidate: str) -> bool:
    """Shape and checksum only: cheap, constant work, no database."""
    if len(candidate) > MAX_KEY_LENGTH or not candidate.isascii() or not _KEY_SHAPE.match(candidate):
        return False
    random_part = candidate[len(KEY_PREFIX) : len(KEY_PREFIX) + RANDOM_LENGTH]
    return hmac.compare_digest(candidate[-CHECKSUM_LENGTH:], checksum(random_part))


def hash_key(key: str) -> str:
    # Deliberately not keyed on SECRET_KEY: rotating that must not invalidate every API key.
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
