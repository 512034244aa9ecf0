"""manage.py whatsapp_smoke --phone +NUMBER: a live login, a text, an image, a reply and a logout, step by step."""

from __future__ import annotations

import platform
from importlib import metadata

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import WaConnection
from accounts.smoke import SmokeOptions, SmokeRun
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from wildcat.errors import AppError
from wildcat.phones import phone_digits

SMOKE_KEY_LABEL = "whatsapp-smoke"


class Command(BaseCommand):
    help = (
        "Walk through a real WhatsApp login on this deployment and report each step with pass/fail and "
        "timing: QR or pairing code, ready, a text to --phone (sent, delivered), an image, a reply typed "
        "on that phone, logout. Needs a running sessions worker and beat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone", required=True, help="The number that receives the test messages and replies.")
        parser.add_argument("--driver", choices=WaConnection.Driver.values, default=WaConnection.Driver.NEONIZE)
        parser.add_argument("--pair-code", action="store_true", help="Link with a pairing code for --phone, not a QR.")
        parser.add_argument("--api-key-id", type=int, help="Owner of the test connection (default: a smoke key).")
        parser.add_argument("--login-timeout", type=float, default=180.0, help="Seconds to wait for QR and login.")
        parser.add_argument("--step-timeout", type=float, default=90.0, help="Seconds to wait for each send step.")
        parser.add_argument("--reply-timeout", type=float, default=300.0, help="Seconds to wait for the reply.")

    def handle(self, *args: object, **options: object) -> None:
        try:
            phone_digits(str(options["phone"]))
        except AppError as exc:
            raise CommandError(f"--phone: {exc.message}") from exc
        smoke = SmokeOptions(
            phone=str(options["phone"]),
            driver=str(options["driver"]),
            pair_code=bool(options["pair_code"]),
            login_timeout=float(options["login_timeout"]),
            step_timeout=float(options["step_timeout"]),
            reply_timeout=float(options["reply_timeout"]),
        )
        run = SmokeRun(api_key_id=self._api_key_id(options.get("api_key_id")), options=smoke, say=self.stdout.write)
        self.stdout.write(self._header(smoke))
        passed = run.run()
        counts = {label: sum(1 for r in run.results if r.passed is value) for label, value in
                  (("passed", True), ("failed", False), ("skipped", None))}  # fmt: skip
        connection = f"connection {run.connection.pk}" if run.connection else "no connection"
        self.stdout.write(
            f"Summary: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped; "
            f"{connection} (its timeline is in the admin)."
        )
        if not passed:
            raise CommandError("the WhatsApp smoke check failed; paste the lines above into the bug report")

    def _api_key_id(self, wanted: object) -> int:
        if wanted is not None:
            if not ApiKey.objects.filter(pk=int(wanted), status=ApiKey.Status.ACTIVE).exists():
                raise CommandError(f"--api-key-id {wanted}: no active API key with that id")
            return int(wanted)
        existing = ApiKey.objects.filter(label=SMOKE_KEY_LABEL).first()
        if existing is not None and existing.status == ApiKey.Status.ACTIVE:
            return existing.pk
        label = SMOKE_KEY_LABEL if existing is None else f"{SMOKE_KEY_LABEL}-{timezone.now():%Y%m%d%H%M%S}"
        key, _ = apikey_create(label=label)  # its secret is never needed: the check calls services directly
        return key.pk

    def _header(self, smoke: SmokeOptions) -> str:
        """Versions and settings a bug report needs, on one line."""
        try:
            neonize = metadata.version("neonize")
        except metadata.PackageNotFoundError:
            neonize = "not installed"
        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        return (
            f"whatsapp_smoke {timezone.now():%Y-%m-%dT%H:%M:%SZ} driver={smoke.driver} "
            f"phone=+{phone_digits(smoke.phone)} "
            f"login={'pair-code' if smoke.pair_code else 'qr'} neonize={neonize} python={platform.python_version()} "
            f"database={engine} redis={'yes' if settings.REDIS_URL else 'no'}"
        )
