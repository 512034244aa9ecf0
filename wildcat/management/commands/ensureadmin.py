"""Create the first admin login if none exists, from env or with a generated password printed once."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user (WILDCAT_ADMIN_USER / WILDCAT_ADMIN_PASSWORD) unless a superuser exists."

    def handle(self, *args: object, **options: object) -> None:
        user_model = get_user_model()
        username = os.environ.get("WILDCAT_ADMIN_USER", "admin")
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "Admin login: an admin user already exists "
                f"(reset a password with: .venv/bin/python manage.py changepassword {username})"
            )
            return
        password = os.environ.get("WILDCAT_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        shown = password if not os.environ.get("WILDCAT_ADMIN_PASSWORD") else "(from WILDCAT_ADMIN_PASSWORD)"
        self.stdout.write(f"Admin login: user {username!r}, password {shown} (shown once; change it in the admin)")
