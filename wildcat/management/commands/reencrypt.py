"""manage.py reencrypt: rewrite every stored secret under the newest WILDCAT_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from wildcat.secrets_at_rest import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of WILDCAT_ENCRYPTION_KEY. Rotate by listing "
        "the new key first and the old one after it, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = secrets_reencrypt()
        self.stdout.write(f"Re-encrypted {count} stored secret(s) under the newest key.")
