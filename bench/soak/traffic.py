"""Steady traffic for the soak: outbound sends and injected inbound messages, each with a unique token."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from bench.soak.client import GaveUp, SoakClient


@dataclass
class Ledger:
    """What the client was told: tokens the API accepted, and calls it gave up on (never silently)."""

    sent: dict[str, int] = field(default_factory=dict)  # token -> message id
    injected: set[str] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Traffic:
    """`senders` threads post texts and `injectors` threads inject inbound messages at the given rates."""

    def __init__(self, base: str, key: str, connection_ids: list[int], *, send_rate: float, inbound_rate: float,
                 senders: int = 4, injectors: int = 2) -> None:  # fmt: skip
        self.base, self.key, self.connection_ids = base, key, connection_ids
        self.ledger = Ledger()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send_loop, args=(send_rate / senders, f"s{n}"), daemon=True)
            for n in range(senders)
        ] + [
            threading.Thread(target=self._inject_loop, args=(inbound_rate / injectors, f"i{n}"), daemon=True)
            for n in range(injectors)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=330)

    def _paced(self, rate: float, name: str, action) -> None:
        client = SoakClient(self.base, self.key)
        chooser = random.Random(name)
        interval, number = 1.0 / rate, 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            number += 1
            token = f"soak-{name}-{number}-{chooser.randrange(10**9)}"
            try:
                action(client, chooser.choice(self.connection_ids), token)
            except GaveUp as exc:
                with self.ledger.lock:
                    self.ledger.gave_up.append(f"{token}: {exc}")
            next_at = max(next_at + interval, time.monotonic() - 1)
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send_loop(self, rate: float, name: str) -> None:
        def send(client: SoakClient, connection_id: int, token: str) -> None:
            message_id = client.send_text(connection_id, token)
            with self.ledger.lock:
                self.ledger.sent[token] = message_id

        self._paced(rate, name, send)

    def _inject_loop(self, rate: float, name: str) -> None:
        def inject(client: SoakClient, connection_id: int, token: str) -> None:
            client.inject_inbound(connection_id, token)
            with self.ledger.lock:
                self.ledger.injected.add(token)

        self._paced(rate, name, inject)
