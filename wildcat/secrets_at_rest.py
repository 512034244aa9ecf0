"""Encryption of secrets stored in the database (Fernet), keyed by WILDCAT_ENCRYPTION_KEY, not SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
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
    """Outside production, a key generated once in the data folder (shared by every local process).

    The file appears complete or not at all: the key is written to a private temporary file that is
    then hard-linked into place, so a process starting at the same moment never reads it half
    written (an empty key would silently derive a key from the empty string).
    """
    path = Path(settings.DATA_DIR) / KEY_FILE_NAME
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE_NAME}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; read its key
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it, or set WILDCAT_ENCRYPTION_KEY.")
    return key


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


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) stored with ``EncryptedTextField``."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def secrets_reencrypt() -> int:
    """Rewrite every stored secret under the newest key, so older keys can be dropped; returns the count."""
    rewritten = 0
    for model, name in encrypted_fields():
        for pk, plaintext in model.objects.exclude(**{name: ""}).values_list("pk", name).iterator():
            # Saving the plaintext encrypts it again, always with the first (newest) key.
            rewritten += model.objects.filter(pk=pk).update(**{name: plaintext})
    return rewritten


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
