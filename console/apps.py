"""The console app: the operator console's top floor (admin front page, audit log, worker list)."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operator console"
