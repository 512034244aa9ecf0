"""Maps neonize's exceptions (``neonize.exc``, carrying whatsmeow's error text) to ``DriverError``.

neonize hands over whatsmeow's ``err.Error()`` string and nothing else, so the error is recognised
by whatsmeow's own identities: the sentinel texts of ``errors.go`` and the forms that wrap them
(``fmt.Errorf("...: %w", err)``), plus a number where whatsmeow prints one. whatsmeow puts the
recipient's JID in many of its errors, and a phone number can contain 400, 401, 404 or 500; so JIDs
and other numbers are removed before anything is matched, and a number counts only in one of the
three forms it is printed in. Each form is its own number space, read with its own table:
- "info query returned status N: text" (errors.go:224): an IQ error code (errors.go ErrIQ*).
- "server returned error N" (send.go:452): the error code of the server's ack to a sent message.
  whatsmeow gives these codes no meaning beyond "the server rejected the message", so nothing was
  delivered and a retry cannot duplicate it. Only 463 is known to last: WhatsApp refuses a first
  message to this contact for a long time (tulir/whatsmeow#1074), so it is a permanent ``forbidden``;
  any other code is a transient ``send_failed``, bounded by the outbox's attempt limit.
- "upload failed with status code N" (upload.go:248): an HTTP status of a media host. A 401 or
  403 can be media auth that expired, which whatsmeow refreshes (mediaconn.go:44-57), and a 404 says
  nothing about the recipient: they are transient ``upload_failed``.

Permanent errors fail the message (or call) at once; transient ones are retried. One case is
neither: the message node may already have gone out when the error came, so it may have been
delivered. That is ``send_outcome_unknown``: permanent, because sending again would show the
recipient the message twice. ``send_error`` adds the send-only cases to ``driver_error``.

Sources: whatsmeow errors.go, send.go, request.go, user.go, upload.go. The installed neonize 0.5.2
embeds whatsmeow 35ae40906e74 (2026-09-21; its Go build info), whose source is not public; line
numbers are those of whatsmeow 33cfac51, the newest public source. The texts matched here are
checked against the installed library's strings (tests/accounts/test_neonize_binary_strings.py).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from wildcat.errors import ErrorCode
from wildcat.whatsapp import DriverError

SEND_OUTCOME_UNKNOWN = ErrorCode.SEND_OUTCOME_UNKNOWN.value
NOT_ON_WHATSAPP = ErrorCode.NOT_ON_WHATSAPP.value
FORBIDDEN = ErrorCode.FORBIDDEN.value

# A JID as whatsmeow prints it (``types.JID.String()``): user[.agent][:device]@server, or a server alone.
_JID = re.compile(r"[\w.:+-]*@[a-z.]+")
_NUMBER = re.compile(r"\d+")
# The forms a number is printed in, each naming the table it is read with.
IQ, ACK, MEDIA = "iq", "ack", "media"
_STATUS_FORMS = (
    (IQ, re.compile(r"info query returned status (\d+)")),
    (ACK, re.compile(r"server returned error (\d+)")),
    (MEDIA, re.compile(r"upload failed with status code (\d+)")),
)

# (identity, code, permanent): the identity is whatsmeow's text with JIDs as "<jid>" and numbers as "#",
# lower-cased; the first identity contained in the error wins.
IDENTITIES: tuple[tuple[str, str, bool], ...] = (
    # send.go:432 ErrMessageTimedOut: the server's ack did not come within 75 s, after the node was sent.
    ("timed out waiting for message send response", SEND_OUTCOME_UNKNOWN, True),
    # request.go:201/232 retryFrame: the server answered the sent node with a disconnect and the retry failed.
    ("websocket disconnected before message send", SEND_OUTCOME_UNKNOWN, True),
    # send.go:344: the server knows no account (and so no LID) for this phone number.
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
    ("context deadline exceeded", "timeout", False),
)
# (code, permanent) by form and number; a number not listed is ``server_error`` from 500, else the default.
STATUSES: dict[str, dict[int, tuple[str, bool]]] = {
    IQ: {
        400: ("invalid_recipient", True),
        401: ("logged_out", True),
        403: ("forbidden", True),
        404: (NOT_ON_WHATSAPP, True),
        406: ("invalid_recipient", True),
        408: ("timeout", False),
        429: ("rate_limited", False),
    },
    ACK: {463: (FORBIDDEN, True)},
    MEDIA: {408: ("timeout", False), 429: ("rate_limited", False)},
}
# Socket errors SendMessage returns unwrapped only from retryFrame (request.go:208, 212-215), which
# send.go:442 calls after the server answered the sent node with a disconnect: the node may have
# been delivered. Before the node goes out, SendMessage wraps them ("failed to send message node:
# %w", send.go:741/823/843/897; "failed to send usync query: %w", user.go:950; "failed to get group
# members: %w", send.go:302). "failed to write msg: %w" is coder/websocket's Conn.Write.
BARE_AFTER_SEND = ("websocket not connected", "frame socket is closed", "failed to write msg: ")


class PrintedStatus(NamedTuple):
    form: str
    number: int


def error_identity(text: str) -> str:
    """The error text with JIDs and numbers taken out, lower-cased: what is compared, never the digits."""
    return _NUMBER.sub("#", _JID.sub("<jid>", text)).lower()


def error_status(text: str) -> PrintedStatus | None:
    """The number whatsmeow printed in one of its status forms, with the form; never a JID's digits."""
    cleaned = _JID.sub("<jid>", text).lower()
    for form, pattern in _STATUS_FORMS:
        found = pattern.search(cleaned)
        if found:
            return PrintedStatus(form, int(found.group(1)))
    return None


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
        fallback = ("server_error" if status.number >= 500 else _default_code(exc), False)
        code, permanent = STATUSES[status.form].get(status.number, fallback)
        return DriverError(code, text[:500], permanent=permanent)
    return DriverError(_default_code(exc), text[:500], permanent=False)


def send_error(exc: BaseException) -> DriverError:
    """``driver_error`` for a failed SendMessage: a bare socket error there came after the node went out."""
    error = driver_error(exc)
    if error is not exc and error_identity(error.message).startswith(BARE_AFTER_SEND):
        return DriverError(SEND_OUTCOME_UNKNOWN, error.message, permanent=True)
    return error


def _default_code(exc: BaseException) -> str:
    name = exc.__class__.__name__
    return {"UploadError": "upload_failed", "DownloadError": "download_failed"}.get(name, "send_failed")
