"""Maps neonize's exceptions (``neonize.exc``, carrying whatsmeow's error text) to ``DriverError``.

neonize hands over whatsmeow's ``err.Error()`` string and nothing else, so the error is recognised
by whatsmeow's own identities: the sentinel texts of ``errors.go`` and the forms that wrap them
(``fmt.Errorf("...: %w", err)``), plus a status number where whatsmeow prints one ("info query
returned status 404: item-not-found", "server returned error 479", "upload failed with status
code 500"). whatsmeow puts the recipient's JID in many of its errors, and a phone number can
contain 400, 401, 404 or 500; so JIDs and other numbers are removed before anything is matched,
and a status counts only in those printed forms, never as digits found anywhere.

Permanent errors fail the message (or call) at once; transient ones are retried. One case is
neither: whatsmeow gave up waiting for the server's answer after the message was already on the
wire, so it may have been delivered. That is ``send_outcome_unknown``: permanent, because sending
again would show the recipient the message twice.
"""

from __future__ import annotations

import re

from wildcat.errors import ErrorCode
from wildcat.whatsapp import DriverError

SEND_OUTCOME_UNKNOWN = ErrorCode.SEND_OUTCOME_UNKNOWN.value
NOT_ON_WHATSAPP = ErrorCode.NOT_ON_WHATSAPP.value

# A JID as whatsmeow prints it (``types.JID.String()``): user[.agent][:device]@server, or a server alone.
_JID = re.compile(r"[\w.:+-]*@[a-z.]+")
_STATUS = re.compile(r"(?:returned status|status code|server returned error) (\d{3})\b")
_NUMBER = re.compile(r"\d+")

# (identity, code, permanent): the identity is whatsmeow's text with JIDs as "<jid>" and numbers as "#",
# lower-cased; the first identity contained in the error wins. Sources: whatsmeow errors.go, send.go,
# request.go, user.go (commit 33cfac51; neonize 0.5.2 bundles e277b766, identical in these files).
IDENTITIES: tuple[tuple[str, str, bool], ...] = (
    # send.go: the server's ack did not come within 75 s, after the message node was sent.
    ("timed out waiting for message send response", SEND_OUTCOME_UNKNOWN, True),
    # request.go retryFrame: the socket dropped after the node was sent and did not come back in 5 s.
    ("websocket disconnected before message send", SEND_OUTCOME_UNKNOWN, True),
    # send.go / user.go: the server knows no account (and so no LID) for this phone number.
    ("no lid found for <jid> from server", NOT_ON_WHATSAPP, True),
    ("the store doesn't contain a device jid", "logged_out", True),
    ("message recipient must be a user jid with no device part", "invalid_recipient", True),
    ("can't send message to unknown server", "invalid_recipient", True),
    ("sending to non-status broadcast lists is not yet supported", "invalid_recipient", True),
    ("that group does not exist", "group_not_found", True),
    ("you're not participating in that group", "forbidden", True),
    ("international phone number required", "invalid_recipient", True),
    ("phone number too short", "invalid_recipient", True),
    ("info query timed out", "timeout", False),
    ("websocket not connected", "not_connected", False),
    ("websocket disconnected before", "not_connected", False),
    ("client is nil", "not_connected", False),
    ("failed to dial whatsapp web websocket", "not_connected", False),
    ("no signal session established", "send_failed", False),
    ("context deadline exceeded", "timeout", False),
)
# whatsmeow's IQError codes (errors.go ErrIQ*) and HTTP statuses of media transfers.
STATUSES: dict[int, tuple[str, bool]] = {
    400: ("invalid_recipient", True),
    401: ("logged_out", True),
    403: ("forbidden", True),
    404: (NOT_ON_WHATSAPP, True),
    406: ("invalid_recipient", True),
    408: ("timeout", False),
    429: ("rate_limited", False),
}


def error_identity(text: str) -> str:
    """The error text with JIDs and numbers taken out, lower-cased: what is compared, never the digits."""
    return _NUMBER.sub("#", _JID.sub("<jid>", text)).lower()


def error_status(text: str) -> int | None:
    """The status number whatsmeow printed in one of its status forms, ignoring any JID's digits."""
    found = _STATUS.search(_JID.sub("<jid>", text).lower())
    return int(found.group(1)) if found else None


def driver_error(exc: BaseException) -> DriverError:
    """The DriverError for any failure raised by a neonize call; unknown failures are transient."""
    if isinstance(exc, DriverError):
        return exc
    text = str(exc) or exc.__class__.__name__
    identity = error_identity(text)
    for fragment, code, permanent in IDENTITIES:
        if fragment in identity:
            return DriverError(code, text[:500], permanent=permanent)
    status = error_status(text)
    if status is not None:
        code, permanent = STATUSES.get(status, ("server_error" if status >= 500 else "send_failed", False))
        return DriverError(code, text[:500], permanent=permanent)
    return DriverError(_default_code(exc), text[:500], permanent=False)


def _default_code(exc: BaseException) -> str:
    name = exc.__class__.__name__
    return {"UploadError": "upload_failed", "DownloadError": "download_failed"}.get(name, "send_failed")
