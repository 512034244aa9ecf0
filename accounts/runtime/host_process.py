"""The entry point of a session-host process (``python -m accounts.runtime.host_process``): set up Django, run a host.

The host itself is ``accounts.runtime.host.SessionHost``; this module only wires the process: the
protocol stream, signals, Django, and the host's threads.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TextIO

import django
from django.conf import settings

from wildcat.redis_client import get_redis

STOP_GRACE_SECONDS = 5.0


def _protocol_stream() -> TextIO:
    """Keep the real stdout for the protocol and point file descriptor 1 at stderr for everyone else."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")


def main() -> None:
    protocol_out = _protocol_stream()
    # Ctrl-C or a service manager's SIGTERM reach the whole process group; the supervisor decides when
    # a host stops (it closes stdin), and a dead supervisor closes stdin by dying.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wildcat.settings")
    django.setup()
    # Only now: the host's modules import models, which need the app registry that setup() fills.
    from accounts.runtime.host import SessionHost

    poll = settings.WILDCAT_SESSION_POLL_SECONDS
    if get_redis() is not None:
        # Wake-ups arrive through the supervisor; polling is only the safety net.
        poll = max(poll, settings.WILDCAT_SESSION_SAFETY_POLL_SECONDS)
    host = SessionHost(
        protocol_out=protocol_out, poll_seconds=poll, hot_poll_seconds=settings.WILDCAT_SESSION_POLL_SECONDS
    )
    sink = threading.Thread(target=host.sink_loop, name="wc-host-sink", daemon=True)
    sink.start()
    worker = threading.Thread(target=host.command_loop, name="wc-host-commands", daemon=True)
    worker.start()
    host.send({"op": "hello", "pid": os.getpid()})
    host.read_requests(sys.stdin)
    worker.join(STOP_GRACE_SECONDS)
    host.events.put(None)
    sink.join(STOP_GRACE_SECONDS)
    # A driver thread that ignores stop() (neonize can) must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main()
