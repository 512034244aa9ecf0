"""manage.py createapikey --label NAME: prints only the new key on stdout."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.services import apikey_create
from wildcat.errors import AppError


class Command(BaseCommand):
    help = "Create an API key and print it once. Only its digest is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--label", required=True, help="A unique name for the key.")

    def handle(self, *args: object, **options: object) -> None:
        try:
            _, secret = apikey_create(label=str(options["label"]))
        except AppError as exc:
            raise CommandError(exc.describe()) from exc
        self.stdout.write(secret)
