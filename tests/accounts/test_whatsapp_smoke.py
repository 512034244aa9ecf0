"""manage.py whatsapp_smoke on the sandbox driver, with a real sessions worker, beat and database."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import close_old_connections

from accounts.models import WaConnection
from accounts.smoke import SmokeOptions, SmokeRun
from messaging.models import Message
from tests.accounts.runtime_support import RUNTIME_ENV, start_sessions_worker
from tests.support.processes import running, start_beat

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = "+5511987654321"
STEPS = ["login", "ready", "text_sent", "text_delivered", "image_sent", "inbound_reply", "logout"]
LINE = re.compile(r"^\[(PASS|FAIL|SKIP)\] (\S+)\s+(\d+\.\d) s  (.*)$")
FAST = {**RUNTIME_ENV, "WILDCAT_SANDBOX_DELIVERED_SECONDS": "0.2", "WILDCAT_SANDBOX_READ_SECONDS": "30"}


def _smoke(*args: str) -> tuple[list[tuple[str, str, float, str]], str]:
    out = io.StringIO()
    error = ""
    try:
        call_command("whatsapp_smoke", "--phone", PHONE, "--driver", "sandbox", *args, stdout=out)
    except CommandError as exc:
        error = str(exc)
    steps = [(m[1], m[2], float(m[3]), m[4]) for m in map(LINE.match, out.getvalue().splitlines()) if m]
    return steps, out.getvalue() + error


@pytest.mark.e2e
def test_the_smoke_check_walks_every_step_on_the_sandbox(api_key, process_logs, redis_url):
    worker = start_sessions_worker("smoke", process_logs, REDIS_URL=redis_url, **FAST)
    beat = start_beat(process_logs, **{**FAST, "REDIS_URL": redis_url})
    with running(worker, beat):
        steps, output = _smoke("--step-timeout", "60", "--login-timeout", "90", "--reply-timeout", "60")
        assert [(label, name) for label, name, _, _ in steps] == [("PASS", name) for name in STEPS], output
        assert "█" in output or "▀" in output or "▄" in output  # the QR drawn in the terminal
        assert "driver=sandbox phone=+5511987654321 login=qr" in output.splitlines()[0]
        assert "Summary: 7 passed, 0 failed, 0 skipped" in output
        print(output)  # shown with -s: what an operator pastes into a bug report
        connection = WaConnection.objects.get(name__startswith="whatsapp-smoke-")
        assert connection.status == "logged_out"
        messages = Message.objects.filter(connection=connection).order_by("id")
        assert [(m.direction, m.type) for m in messages] == [
            ("outbound", "text"),
            ("outbound", "image"),
            ("inbound", "text"),
        ]
        assert messages[0].status in ("delivered", "read") and messages[1].media_id is not None
        assert messages[2].sender_jid == "5511987654321@s.whatsapp.net"

        paired, output = _smoke("--pair-code", "--step-timeout", "60", "--login-timeout", "90")
        assert [label for label, *_ in paired] == ["PASS"] * 7, output
        assert re.search(r"pairing code [0-9A-Z]{4}-?[0-9A-Z]{4}", output), output
        linked = WaConnection.objects.filter(name__startswith="whatsapp-smoke-").order_by("-id").first()
        assert linked.phone_number.lstrip("+") == "5511987654321"  # the sandbox linked the number the code named


def test_without_a_sessions_worker_the_login_fails_with_the_facts_and_the_rest_is_skipped(api_key):
    steps, output = _smoke("--login-timeout", "2")
    assert [(label, name) for label, name, _, _ in steps] == [("FAIL", "login")] + [
        ("SKIP", name) for name in STEPS[1:]
    ], output
    _, _, seconds, detail = steps[0]
    assert 2.0 <= seconds < 10
    assert "timed out after 2 s waiting for a QR code (is a `sessions` worker and beat running?)" in detail
    assert re.search(r"connection \d+ status=not_started step=starting reason=- error=- owner=none", detail), detail
    assert "Summary: 0 passed, 1 failed, 6 skipped" in output
    assert "the WhatsApp smoke check failed" in output


def test_a_phone_that_is_not_a_number_is_refused_before_anything_is_created(api_key):
    with pytest.raises(CommandError, match="--phone"):
        call_command("whatsapp_smoke", "--phone", "not-a-phone", "--driver", "sandbox", stdout=io.StringIO())
    assert not WaConnection.objects.exists()


def test_a_rotated_qr_code_is_shown_again_while_waiting_for_the_scan(api_key):
    connection = WaConnection.objects.create(
        api_key=api_key, name="rotating", status="pending", last_qr="2@first,a,b,c"
    )
    lines: list[str] = []
    run = SmokeRun(api_key_id=api_key.pk, options=SmokeOptions(phone=PHONE, login_timeout=20), say=lines.append)
    run.connection = connection
    run._show_qr("2@first,a,b,c")

    def phone_side() -> None:
        time.sleep(1.0)
        WaConnection.objects.filter(pk=connection.pk).update(last_qr="2@second,a,b,c")  # whatsmeow's next code
        time.sleep(1.5)
        WaConnection.objects.filter(pk=connection.pk).update(
            status="ready", whatsapp_id="4915112345678:3@s.whatsapp.net"
        )
        close_old_connections()

    thread = threading.Thread(target=phone_side)
    thread.start()
    detail = run.step_ready()
    thread.join()
    assert detail.startswith("linked as 4915112345678:3@s.whatsapp.net")
    assert run.shown_qr == "2@second,a,b,c"
    assert lines.count("       scan it: WhatsApp > Settings > Linked devices > Link a device") == 2
    assert "       the previous code expired; scan this one" in lines
