"""A loopback load generator: keep-alive HTTP clients in threads, each posting its share of messages."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    accepted: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_post: float = 0.0
    last_accept: float = 0.0


def post_messages(port: int, key: str, jobs: list[tuple[int, str]], *, threads: int) -> LoadResult:
    """POST one text message per (connection id, text); returns the accepted Wildcat ids."""
    result = LoadResult()
    lock = threading.Lock()
    shares = [jobs[index::threads] for index in range(threads)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def run(share: list[tuple[int, str]]) -> None:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        accepted, errors = [], []
        for connection_id, text in share:
            body = json.dumps({"to": "+4915123456789", "text": text})
            try:
                client.request("POST", f"/api/v1/connections/{connection_id}/messages", body, headers)
                response = client.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                client.close()
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if response.status == 202:
                accepted.append(json.loads(payload)["id"])
            else:
                errors.append(f"{response.status}: {payload[:200]!r}")
        with lock:
            result.accepted.extend(accepted)
            result.errors.extend(errors)
        client.close()

    workers = [threading.Thread(target=run, args=(share,)) for share in shares]
    result.first_post = time.time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result.last_accept = time.time()
    return result
