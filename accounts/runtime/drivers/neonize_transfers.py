"""Media uploads and downloads through neonize, each with a deadline that whatsmeow does not give them.

whatsmeow transfers media with an ``http.Client`` that has no timeout (client.go:252-254), under the
context goneonize passes, ``context.Background()`` (goneonize main.go:420 ``Upload``, main.go:1194
``DownloadAny``): a stalled media host would hold the session's command thread, which also answers
the supervisor's pings, for ever. Each transfer therefore runs on a short-lived daemon thread and
the command thread waits at most ``WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS``. Go cannot be cancelled
from Python: a transfer given up on finishes (or fails) on its thread and its result is dropped.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

from accounts.runtime.drivers.neonize_errors import driver_error
from wildcat.whatsapp import DriverError, InboundMessage, MediaPayload


class TransferTimeout(Exception):
    """A media transfer did not finish within the deadline."""


def call_with_deadline(call: Callable[[], Any], *, seconds: float, name: str) -> Any:
    """``call()`` on a helper thread; its result or exception, or TransferTimeout after ``seconds``."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if not done.wait(seconds):
        raise TransferTimeout(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def media_upload(client: Any, content: bytes, media_type: Any) -> Any:
    """Upload through neonize; a stall is a transient ``timeout`` (nothing was sent yet)."""
    seconds = settings.WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS
    try:
        return call_with_deadline(lambda: client.upload(content, media_type), seconds=seconds, name="wc-upload")
    except TransferTimeout as exc:
        raise DriverError("timeout", f"media upload: {exc}", permanent=False) from exc
    except Exception as exc:
        raise driver_error(exc) from exc


def media_attach(client: Any, inbound: InboundMessage, part: Any, declared: int, message: Any) -> InboundMessage:
    """Download media under the size cap; an oversized, stalled or failed download keeps the message, notes why."""
    cap = settings.WILDCAT_MAX_MEDIA_BYTES
    content = dict(inbound.content)
    data = b""
    if declared > cap:
        content["media_skipped"] = f"too_large: {declared} bytes > {cap}"
    elif client is None:
        content["media_skipped"] = "session_stopped"
    else:
        seconds = settings.WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS
        try:
            data = call_with_deadline(lambda: client.download_any(message), seconds=seconds, name="wc-download") or b""
        except TransferTimeout as exc:
            content["media_skipped"] = f"download_timeout: {exc}"
        except Exception as exc:  # noqa: BLE001 - the message matters more than its media
            content["media_skipped"] = f"download_failed: {str(exc)[:200]}"
        if len(data) > cap:
            content["media_skipped"], data = f"too_large: {len(data)} bytes > {cap}", b""
    if not data:
        return dataclasses.replace(inbound, content=content)
    filename = getattr(part, "fileName", "") if part.DESCRIPTOR.name == "DocumentMessage" else ""
    payload = MediaPayload(content=data, mimetype=part.mimetype or "application/octet-stream", filename=filename)
    return dataclasses.replace(inbound, media=payload, content=content)
