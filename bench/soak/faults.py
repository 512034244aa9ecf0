"""Faults injected at random moments during the soak, and how long the system took to recover from each.

Recovered means: a message sent after the fault reached `sent`, and a message injected after the fault
reached the always-healthy receiver as a `message.received` webhook. Nothing is done to help it recover:
killed workers come back the way a process supervisor (compose's restart policy) brings them back.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

from bench.security.stack import App, PrivatePostgres, PrivateRedis
from bench.soak.client import GaveUp, SoakClient
from bench.soak.receivers import SoakReceiver
from bench.soak.traffic import Ledger

FAULTS = ("kill_sessions_worker", "kill_webhooks_worker", "restart_redis", "restart_postgres")
RECOVERY_LIMIT_SECONDS = 240.0


@dataclass
class FaultRecord:
    kind: str
    at: float  # seconds since the soak started
    recovered_after: float | None = None  # None: not recovered within the limit


class FaultInjector:
    def __init__(self, *, app: App, redis: PrivateRedis, postgres: PrivatePostgres, base: str, key: str,
                 probe_connection_ids: list[int], healthy: SoakReceiver, ledger: Ledger,
                 seed: int) -> None:  # fmt: skip
        self.app, self.redis, self.postgres = app, redis, postgres
        self.client = SoakClient(base, key)
        self.probe_connection_ids = probe_connection_ids
        self.healthy = healthy
        self.ledger = ledger  # probes are counted like any other traffic
        self.records: list[FaultRecord] = []
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def plan(self, minutes: float, rounds: int) -> list[tuple[float, str]]:
        """Each fault `rounds` times, in shuffled order, at jittered moments spread over the run."""
        kinds = [kind for _ in range(rounds) for kind in FAULTS]
        self._random.shuffle(kinds)
        slot = minutes * 60 / (len(kinds) + 1)
        return [(slot * (n + 1) + self._random.uniform(-slot / 4, slot / 4), kind) for n, kind in enumerate(kinds)]

    def run(self, schedule: list[tuple[float, str]], started: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(schedule, started), daemon=True, name="faults")
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self, schedule: list[tuple[float, str]], started: float) -> None:
        for offset, kind in schedule:
            if self._stop.wait(max(0.0, started + offset - time.monotonic())):
                return
            record = FaultRecord(kind, round(time.monotonic() - started, 1))
            print(f"[soak] {record.at:7.1f} s  fault: {kind}", flush=True)
            fault_started = time.monotonic()
            self.inject(kind)
            record.recovered_after = self.recovery_time(fault_started, f"{kind}-{len(self.records)}")
            self.records.append(record)
            recovered = record.recovered_after
            shown = "NOT recovered" if recovered is None else f"recovered in {recovered:.1f} s"
            print(f"[soak] {time.monotonic() - started:7.1f} s  {kind}: {shown}", flush=True)

    def inject(self, kind: str) -> None:
        if kind == "kill_sessions_worker":
            self.app.supervised["sessions"].child.stop(signal.SIGKILL)
        elif kind == "kill_webhooks_worker":
            self.app.supervised["worker"].child.stop(signal.SIGKILL)
        elif kind == "restart_redis":
            self.redis.kill()
            time.sleep(2)
            self.redis.start()  # same port: clients reconnect to the emptied server
        elif kind == "restart_postgres":
            self.postgres.stop()
            time.sleep(3)
            self.postgres.start()
        else:
            raise ValueError(kind)

    def recovery_time(self, fault_started: float, name: str) -> float | None:
        """Seconds from the fault until a new send is `sent` and a new inbound message reached a webhook."""
        connection_id = self._random.choice(self.probe_connection_ids)
        token = f"probe-{name}-{self._random.randrange(10**9)}"
        deadline = fault_started + RECOVERY_LIMIT_SECONDS
        try:
            message_id = self.client.send_text(connection_id, token, deadline=RECOVERY_LIMIT_SECONDS)
            self.client.inject_inbound(connection_id, token + "-in", deadline=RECOVERY_LIMIT_SECONDS)
        except GaveUp as exc:
            with self.ledger.lock:
                self.ledger.gave_up.append(f"{token}: {exc}")
            return None
        with self.ledger.lock:
            self.ledger.sent[token] = message_id
            self.ledger.injected.add(token + "-in")
        sent = {"sent", "delivered", "read"}
        while time.monotonic() < deadline:
            try:
                status = self.client.message_status(message_id)
            except GaveUp:
                status = ""
            if status in sent and self.healthy.seen_text(token + "-in"):
                return round(time.monotonic() - fault_started, 1)
            time.sleep(0.5)
        return None
