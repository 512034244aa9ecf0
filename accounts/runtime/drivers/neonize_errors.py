"""Maps neonize's exceptions (``neonize.exc``, carrying whatsmeow's error text) to ``DriverError``.

whatsmeow reports failures as strings, so the code is chosen from the message. Permanent: the
account is logged out or banned, the recipient is not on WhatsApp or the JID is invalid, the request
is refused. Everything else (timeouts, a dropped socket, server errors) is transient and retried.
"""

from __future__ import annotations

from wildcat.whatsapp import DriverError

# (code, permanent, fragments): the first rule with a fragment in the lower-cased message wins.
RULES: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    ("logged_out", True, ("not logged in", "doesn't contain a device jid", "logged out", "401", "not-authorized")),
    ("banned", True, ("banned", "temporary ban", "account ban")),
    ("not_on_whatsapp", True, ("not on whatsapp", "no devices found", "item-not-found", "404")),
    ("invalid_recipient", True, ("invalid jid", "failed to parse jid", "bad jid", "unmarshal", "406", "400")),
    ("forbidden", True, ("403", "forbidden", "not allowed", "not a participant")),
    ("timeout", False, ("timed out", "timeout", "deadline exceeded")),
    ("not_connected", False, ("not connected", "websocket", "connection", "no such host", "dial", "eof")),
    ("rate_limited", False, ("429", "rate-overlimit", "rate limit")),
    ("server_error", False, ("500", "503", "internal-server-error", "service-unavailable")),
)


def driver_error(exc: BaseException) -> DriverError:
    """The DriverError for any failure raised by a neonize call; unknown failures are transient."""
    if isinstance(exc, DriverError):
        return exc
    text = str(exc) or exc.__class__.__name__
    lowered = text.lower()
    for code, permanent, fragments in RULES:
        if any(fragment in lowered for fragment in fragments):
            return DriverError(code, text[:500], permanent=permanent)
    return DriverError(_default_code(exc), text[:500], permanent=False)


def _default_code(exc: BaseException) -> str:
    name = exc.__class__.__name__
    return {"UploadError": "upload_failed", "DownloadError": "download_failed"}.get(name, "send_failed")
