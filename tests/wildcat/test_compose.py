"""docker-compose.yml describes the production shape, and every command in it points at real code.

There is no Docker engine on the test machines, so this checks the file against the project: the
WSGI module imports, Celery queues exist in the app's configuration, health checks are present.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from wildcat.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
WILDCAT_SERVICES = ["migrate", "web", "worker-sessions", "worker-webhooks", "worker-default", "beat"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _argv(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, list):
        command = " ".join(command) if command[:2] != ["sh", "-c"] else command[2]
    # `sh -c "a && exec b"`: the last command is the long-running one.
    return shlex.split(command.split("exec ")[-1])


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_every_production_service_exists_with_a_health_check(compose):
    services = compose["services"]
    assert {"postgres", "redis", *WILDCAT_SERVICES} <= set(services)
    for name, service in services.items():
        if name == "migrate":
            continue  # a one-shot job: it exits when done
        assert service["healthcheck"]["test"], name


def test_web_runs_gunicorn_on_the_real_wsgi_application(compose):
    argv = _argv(compose["services"]["web"])
    assert argv[0] == "gunicorn"
    module_name, attribute = argv[1].split(":")
    assert (module_name, attribute) == ("wildcat.wsgi", "application")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert "/healthz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


@pytest.mark.parametrize(("service", "queue"), [("worker-sessions", "sessions"), ("worker-webhooks", "webhooks")])
def test_workers_consume_queues_the_celery_app_declares(compose, service, queue):
    argv = _argv(compose["services"][service])
    assert argv[:4] == ["celery", "-A", "wildcat", "worker"]
    assert importlib.import_module(argv[2]).celery_app is celery_app
    declared = {q.name for q in celery_app.conf.task_queues}
    consumed = set(_option(argv, "-Q").split(","))
    assert consumed == {queue} and consumed <= declared


def test_every_declared_queue_has_a_worker(compose):
    consumed = set()
    for service in compose["services"].values():
        argv = _argv(service) if "command" in service else []
        if "worker" in argv:
            consumed |= set(_option(argv, "-Q").split(","))
    assert consumed == {q.name for q in celery_app.conf.task_queues}


def test_sessions_worker_uses_threads_so_no_process_forks_after_neonize(compose):
    for name in ("worker-sessions", "worker-webhooks", "worker-default"):
        assert _option(_argv(compose["services"][name]), "-P") == "threads"


def test_beat_runs_once_with_its_state_in_the_volume(compose):
    argv = _argv(compose["services"]["beat"])
    assert argv[:4] == ["celery", "-A", "wildcat", "beat"]
    assert _option(argv, "-s").startswith("/data/")


def test_migrate_uses_a_real_management_command(compose):
    from django.core.management import get_commands

    argv = _argv(compose["services"]["migrate"])
    assert argv[:2] == ["python", "manage.py"] and argv[2] in get_commands()


def test_environment_volumes_and_dependencies(compose):
    services = compose["services"]
    for name in WILDCAT_SERVICES:
        env = services[name]["environment"]
        for variable in ("DATABASE_URL", "REDIS_URL", "WILDCAT_SECRET_KEY", "WILDCAT_ENCRYPTION_KEY"):
            assert variable in env, (name, variable)
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://redis:")
        assert "wildcat-data:/data" in services[name]["volumes"]
        for dependency in services[name]["depends_on"]:
            assert dependency in services
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    named = {volume.split(":")[0] for service in services.values() for volume in service.get("volumes", [])}
    assert named <= set(compose["volumes"])
    # Production refuses to start without a secret: compose fails fast when it is not provided.
    for secret in ("WILDCAT_SECRET_KEY", "WILDCAT_ENCRYPTION_KEY"):
        assert re.search(rf"\$\{{{secret}:\?", services["web"]["environment"][secret])


def test_the_image_is_built_from_the_dockerfile(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert compose["services"]["web"]["build"] == "."
    assert "requirements.txt" in dockerfile and "collectstatic" in dockerfile
    assert re.search(r"^FROM python:3\.11", dockerfile, re.MULTILINE)


def test_the_image_installs_only_what_runs():
    """Production carries no test tools: they live in requirements-dev.txt, which the image never installs."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs == ["pip install -r requirements.txt"]
    assert "requirements-dev" not in dockerfile
    runtime = {
        re.split(r"[=<>~\[ ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert {"django", "celery", "gunicorn"} <= runtime
    test_tools = {"pytest", "pytest-django", "pytest-timeout", "playwright", "schemathesis", "factory-boy", "ruff"}
    assert runtime & test_tools == set()
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev and all(tool in dev.lower().replace("_", "-") for tool in test_tools)
