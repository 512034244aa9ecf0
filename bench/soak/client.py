"""The soak's API client: every call that creates something is retried with the same identity until it
is answered, as a careful integrator would, so an outage never makes the client itself lose or repeat work.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from dataclasses import dataclass

RETRYABLE = {429, 500, 502, 503, 504}


class GaveUp(RuntimeError):
    """A call still failed after its deadline."""


@dataclass
class Answer:
    status: int
    body: dict


class SoakClient:
    """One keep-alive connection per client; reconnects after any network error."""

    def __init__(self, base: str, key: str) -> None:
        self.host, port = base.split("//", 1)[1].split(":")
        self.port = int(port)
        self.key = key
        self._connection: http.client.HTTPConnection | None = None

    def _once(self, method: str, path: str, body: dict | None, headers: dict[str, str]) -> Answer:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        payload = json.dumps(body) if body is not None else None
        all_headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **headers}
        try:
            self._connection.request(method, path, payload, all_headers)
            response = self._connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            self._connection = None
            raise
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:200].decode(errors="replace")}
        return Answer(response.status, parsed)

    def call(self, method: str, path: str, body: dict | None = None, *, deadline: float = 300.0,
             headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """Retry network errors and 429/5xx with the same request until answered, or give up at the deadline."""
        give_up_at = time.monotonic() + deadline
        last = "no attempt"
        while time.monotonic() < give_up_at:
            try:
                answer = self._once(method, path, body, headers or {})
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            else:
                if answer.status not in RETRYABLE:
                    return answer
                last = f"{answer.status} {answer.body}"
            time.sleep(0.5)
        raise GaveUp(f"{method} {path}: {last}")

    def send_text(self, connection_id: int, token: str, *, deadline: float = 300.0) -> int:
        """Queue a text whose body and Idempotency-Key are the token; returns the message id."""
        answer = self.call(
            "POST",
            f"/api/v1/connections/{connection_id}/messages",
            {"to": "+4915123456789", "text": token},
            headers={"Idempotency-Key": token},
            deadline=deadline,
        )
        if answer.status not in (200, 201, 202):
            raise GaveUp(f"send refused: {answer.status} {answer.body}")
        return int(answer.body["id"])

    def inject_inbound(self, connection_id: int, token: str, *, deadline: float = 300.0) -> None:
        """Have the sandbox phone receive a message; its WhatsApp id makes a repeated injection a no-op."""
        wa_id = uuid.uuid5(uuid.NAMESPACE_URL, token).hex[:20].upper()
        answer = self.call(
            "POST",
            f"/api/v1/connections/{connection_id}/sandbox/inject/message",
            {"sender": "+4917612345678", "text": token, "wa_message_id": wa_id},
            deadline=deadline,
        )
        if answer.status not in (200, 201, 202):
            raise GaveUp(f"inject refused: {answer.status} {answer.body}")

    def message_status(self, message_id: int) -> str:
        answer = self.call("GET", f"/api/v1/messages/{message_id}", deadline=30)
        return str(answer.body.get("status", ""))
