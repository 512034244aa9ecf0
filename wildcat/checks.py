"""System checks that catch misconfiguration at start-up."""

from __future__ import annotations

import ipaddress
import os
import sqlite3

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from wildcat.rates import parse_rate


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs) -> list:
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to even read an empty SECRET_KEY
        secret_key = ""
    if not settings.DEBUG and not secret_key:
        return [
            Error(
                "WILDCAT_SECRET_KEY is not set.",
                hint="Set WILDCAT_SECRET_KEY (or WILDCAT_SECRET_KEY_FILE).",
                id="wildcat.E001",
            )
        ]
    if not settings.DEBUG and len(secret_key) < 32:
        return [Error("WILDCAT_SECRET_KEY is shorter than 32 characters.", id="wildcat.E002")]
    return []


@register()
def check_limits(app_configs, **kwargs) -> list:
    problems = []
    if settings.WILDCAT_DEFAULT_PAGE_SIZE > settings.WILDCAT_MAX_PAGE_SIZE:
        problems.append(Error("WILDCAT_DEFAULT_PAGE_SIZE is larger than WILDCAT_MAX_PAGE_SIZE.", id="wildcat.E003"))
    for network in settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            problems.append(
                Error(f"WILDCAT_WEBHOOK_ALLOWED_NETWORKS has an invalid CIDR: {network!r}.", id="wildcat.E004")
            )
    for name in ("WILDCAT_API_RATE", "WILDCAT_AUTH_FAILURE_RATE"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            problems.append(Error(f"{name} is invalid: {exc}", id="wildcat.E005"))
    return problems


# The webhook drainer claims with a materialized CTE and UPDATE ... RETURNING.
MIN_SQLITE_VERSION = (3, 35, 0)


@register()
def check_sqlite_version(app_configs, **kwargs) -> list:
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("sqlite3") and sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        wanted = ".".join(map(str, MIN_SQLITE_VERSION))
        return [
            Error(
                f"SQLite {sqlite3.sqlite_version} is too old; Wildcat needs {wanted} or newer.",
                hint="Use a Python built against a newer SQLite, or PostgreSQL (DATABASE_URL).",
                id="wildcat.E006",
            )
        ]
    return []


@register()
def check_broker(app_configs, **kwargs) -> list:
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine.endswith("postgresql") and not settings.REDIS_URL:
        return [
            Warning(
                "PostgreSQL is configured without REDIS_URL: the broker and cache are local files, "
                "which only works when every process runs on this one machine.",
                id="wildcat.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_production_hosts(app_configs, **kwargs) -> list:
    """Production needs an explicit host list and the origins the admin is served from."""
    problems = []
    if "*" in settings.ALLOWED_HOSTS or not os.environ.get("WILDCAT_ALLOWED_HOSTS"):
        problems.append(
            Error("Set WILDCAT_ALLOWED_HOSTS to the exact host names Wildcat is served on.", id="wildcat.E010")
        )
    if not settings.CSRF_TRUSTED_ORIGINS:
        problems.append(
            Warning(
                "WILDCAT_CSRF_TRUSTED_ORIGINS is empty: admin logins through a TLS proxy will fail CSRF checks.",
                id="wildcat.W010",
            )
        )
    return problems


@register()
def check_neonize_sessions_per_host(app_configs, **kwargs) -> list:
    """neonize's Go side is not safe with two sessions in one process (see the neonize driver's docstring)."""
    if settings.WILDCAT_SESSIONS_PER_HOST > 1:
        return [
            Error(
                f"WILDCAT_SESSIONS_PER_HOST is {settings.WILDCAT_SESSIONS_PER_HOST}; neonize sessions run one per "
                "host process.",
                hint=(
                    "Set WILDCAT_SESSIONS_PER_HOST=1: each neonize client's connect() writes Go's global maps from "
                    "its own thread, and two clients in one process can abort it. Sandbox sessions are governed by "
                    "WILDCAT_SANDBOX_SESSIONS_PER_HOST instead."
                ),
                id="wildcat.E030",
            )
        ]
    return []
