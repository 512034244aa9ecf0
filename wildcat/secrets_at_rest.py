"""Encryption of secrets stored in the database (Fernet), keyed by WILDCAT_ENCRYPTION_KEY, not SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.db import models

KEY_FILE_NAME = "encryption_key"


def _fernet_key(material: str) -> bytes:
    """Use a Fernet key as given; derive one from any other high-entropy string."""
    try:
        if len(base64.urlsafe_b64decode(material.encode())) == 32:
            return material.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def _local_key_file() -> str:
    """Outside production, a key generated once in the data folder (shared by every local process)."""
    path = Path(settings.DATA_DIR) / KEY_FILE_NAME
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def configured_keys() -> list[str]:
    """The configured keys, newest first (comma-separated so an old key can still decrypt)."""
    return [key.strip() for key in settings.WILDCAT_ENCRYPTION_KEY.split(",") if key.strip()]


@lru_cache(maxsize=4)
def _cipher_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def _cipher() -> MultiFernet:
    keys = configured_keys()
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("WILDCAT_ENCRYPTION_KEY is required in production.")
        keys = [_local_key_file()]
    return _cipher_for(tuple(keys))


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: WILDCAT_ENCRYPTION_KEY does not hold the key it was written with."
        ) from exc


def reencrypt(token: str) -> str:
    """Re-encrypt under the newest key (for rotating WILDCAT_ENCRYPTION_KEY)."""
    return _cipher().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code only ever sees the plaintext."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


@register(Tags.security)
def check_encryption_key(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Production needs its own encryption key: stored webhook secrets are unreadable without it."""
    keys = configured_keys()
    if settings.PRODUCTION and not keys:
        return [
            Error(
                "WILDCAT_ENCRYPTION_KEY is not set.",
                hint="Set WILDCAT_ENCRYPTION_KEY (or WILDCAT_ENCRYPTION_KEY_FILE) to a Fernet key, e.g. the output "
                "of: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
                id="wildcat.E020",
            )
        ]
    weak = [key for key in keys if len(key) < 32]
    if weak and not settings.DEBUG:
        return [Error("WILDCAT_ENCRYPTION_KEY holds a key shorter than 32 characters.", id="wildcat.E021")]
    return []
