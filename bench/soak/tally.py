"""The soak's final count, read straight from the database and the receivers: accepted against done."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psycopg

from bench.soak.receivers import SoakReceiver
from bench.soak.traffic import Ledger

SENT = ("sent", "delivered", "read")
UNFINISHED_MESSAGES = ("queued", "sending")
UNFINISHED_DELIVERIES = ("pending", "sending")


@dataclass
class Tally:
    messages: dict[str, int] = field(default_factory=dict)
    inbound: dict[str, int] = field(default_factory=dict)
    webhooks: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Every target the run missed; empty when 0 lost and 0 duplicated everywhere."""
        counts = {
            "messages lost": self.messages["lost"],
            "messages duplicated": self.messages["duplicated"],
            "inbound lost": self.inbound["lost"],
            "inbound duplicated": self.inbound["duplicated"],
            "webhook events lost": self.webhooks["lost"],
        }
        return [f"{name}: {count}" for name, count in counts.items() if count]


def _rows(database_url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(query, params).fetchall()


def count_messages(database_url: str, ledger: Ledger, tally: Tally) -> None:
    """Accepted sends against their rows, and against what the sandbox recipient saw (duplicates)."""
    rows = dict(_rows(database_url, "SELECT text, status FROM messaging_message WHERE direction = 'outbound'"))
    seen = Counter(text for (text,) in _rows(database_url, "SELECT text FROM accounts_sandboxdelivery"))
    accepted = set(ledger.sent)
    statuses = Counter(rows.get(token, "missing") for token in accepted)
    missing_or_stuck = [t for t in accepted if rows.get(t, "missing") in ("missing", *UNFINISHED_MESSAGES)]
    tally.messages = {
        "accepted": len(accepted),
        "sent": sum(statuses[s] for s in SENT),
        "failed": statuses["failed"],
        "lost": len(missing_or_stuck),
        "duplicated": sum(1 for token in accepted if seen[token] > 1),
        "client gave up": sum(1 for line in ledger.gave_up if not line.startswith(("soak-i", "probe"))),
    }
    tally.examples += [f"message lost: {token} ({rows.get(token, 'missing')})" for token in missing_or_stuck[:5]]


def count_inbound(database_url: str, ledger: Ledger, tally: Tally) -> None:
    stored = Counter(
        text for (text,) in _rows(database_url, "SELECT text FROM messaging_message WHERE direction = 'inbound'")
    )
    injected = ledger.injected
    lost = [token for token in injected if not stored[token]]
    tally.inbound = {
        "injected": len(injected),
        "stored": sum(1 for token in injected if stored[token]),
        "lost": len(lost),
        "duplicated": sum(1 for token in injected if stored[token] > 1),
    }
    tally.examples += [f"inbound lost: {token}" for token in lost[:5]]


def count_webhooks(database_url: str, receivers: list[SoakReceiver], tally: Tally) -> None:
    """Deliveries to the soak's endpoints against the webhook-ids the receivers accepted with 2xx."""
    rows = _rows(database_url, "SELECT d.message_id, d.status, e.url FROM webhooks_webhookdelivery d "
                               "JOIN webhooks_webhookendpoint e ON e.id = d.endpoint_id")  # fmt: skip
    by_url = {receiver.url: receiver for receiver in receivers}
    statuses = Counter(status for _, status, _ in rows)
    lost = [
        message_id
        for message_id, status, url in rows
        if status in UNFINISHED_DELIVERIES or (status == "delivered" and message_id not in by_url[url].accepted)
    ]
    inbound_stored = _rows(database_url, "SELECT count(*) FROM messaging_message WHERE direction = 'inbound'")[0][0]
    received_events = _rows(
        database_url,
        "SELECT count(*) FROM webhooks_webhookdelivery d JOIN webhooks_webhookevent v ON v.id = d.event_id "
        "JOIN webhooks_webhookendpoint e ON e.id = d.endpoint_id WHERE v.type = 'message.received' AND e.url = %s",
        (receivers[0].url,),
    )[0][0]
    tally.webhooks = {
        "emitted": len(rows),
        "delivered": statuses["delivered"],
        "exhausted": statuses["exhausted"],
        # An inbound message stored without its message.received event is an event lost before delivery.
        "lost": len(lost) + max(0, inbound_stored - received_events),
        # At-least-once: a worker killed between a 2xx and recording it sends again under the same
        # webhook-id, which receivers deduplicate on (Standard Webhooks). Counted, not a loss or a new event.
        "redelivered (same webhook-id)": sum(max(0, n - 1) for r in receivers for n in r.ok_counts.values()),
        "receiver misbehaved": sum(r.behaviours[b] for r in receivers for b in ("error", "stall", "trickle")),
    }
    tally.examples += [f"webhook lost: {message_id}" for message_id in lost[:5]]


def unfinished(database_url: str) -> int:
    """Messages and deliveries still on their way."""
    query = (
        "SELECT (SELECT count(*) FROM messaging_message WHERE status IN ('queued', 'sending'))"
        " + (SELECT count(*) FROM webhooks_webhookdelivery WHERE status IN ('pending', 'sending'))"
    )
    return int(_rows(database_url, query)[0][0])
