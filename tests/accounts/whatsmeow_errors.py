"""whatsmeow's error formats, the only source of the error texts the neonize tests hand the driver.

The installed neonize 0.5.2 embeds whatsmeow 35ae40906e74 (2026-09-21, per its Go build info), whose
source is not public; line numbers cited here are whatsmeow 33cfac51's, the newest public source.
A test builds an error text only with ``go_errorf`` from a format in ``FORMATS``, and
test_neonize_binary_strings checks that every format is in the installed Go library, so no error
text a test relies on can be one the shipped binary cannot produce.
"""

from __future__ import annotations

import re

# The whatsmeow module version in the installed library's Go build info ("dep go.mau.fi/whatsmeow ...").
WHATSMEOW_VERSION = "v0.0.0-20260921121126-35ae40906e74"
WHATSMEOW_COMMIT = WHATSMEOW_VERSION.rsplit("-", 1)[1]

# errors.go sentinels and the fmt.Errorf formats that wrap them (whatsmeow 33cfac51 file:line).
CLIENT_IS_NIL = "client is nil"  # errors.go:19 ErrClientIsNil
IQ_TIMED_OUT = "info query timed out"  # errors.go:21 ErrIQTimedOut
NOT_CONNECTED = "websocket not connected"  # errors.go:22 ErrNotConnected
NOT_LOGGED_IN = "the store doesn't contain a device JID"  # errors.go:23 ErrNotLoggedIn
MESSAGE_TIMED_OUT = "timed out waiting for message send response"  # errors.go:24 ErrMessageTimedOut
NOT_IN_GROUP = "you're not participating in that group"  # errors.go:86 ErrNotInGroup
GROUP_NOT_FOUND = "that group does not exist"  # errors.go:88 ErrGroupNotFound
BROADCAST_UNSUPPORTED = "sending to non-status broadcast lists is not yet supported"  # errors.go:109
UNKNOWN_SERVER = "can't send message to unknown server"  # errors.go:110 ErrUnknownServer
RECIPIENT_AD_JID = "message recipient must be a user JID with no device part"  # errors.go:111
SERVER_RETURNED_ERROR = "server returned error"  # errors.go:112 ErrServerReturnedError
IQ_STATUS = "info query returned status %d: %s"  # errors.go:224 IQError.Error
DISCONNECTED_BEFORE = "websocket disconnected before %s returned response"  # errors.go:259 DisconnectedError
RETRY_ACTION = "%s (retry)"  # request.go:232, the DisconnectedError action of a failed retry
WRAP_SUFFIX = "%w %s"  # send.go:414 ErrUnknownServer with the server
WRAP_NUMBER = "%w %d"  # send.go:452 ErrServerReturnedError with the ack's error code
GROUP_MEMBERS = "failed to get group members: %w"  # send.go:302
BROADCAST_MEMBERS = "failed to get broadcast list members: %w"  # send.go:318
USER_INFO_FOR_LID = "failed to get user info for %s to fill LID cache: %w"  # send.go:341
NO_LID = "no LID found for %s from server"  # send.go:344
SEND_NODE = "failed to send message node: %w"  # send.go:741, 823, 843, 897
DEVICE_LIST = "failed to get device list: %w"  # send.go:1177
USYNC = "failed to send usync query: %w"  # user.go:950
EXECUTE_REQUEST = "failed to execute request: %w"  # upload.go:246
UPLOAD_STATUS = "upload failed with status code %d"  # upload.go:248
SOCKET_CLOSED = "frame socket is closed"  # socket/constants.go:41 ErrSocketClosed
# coder/websocket (v1.8.15 in the build info) Conn.Write, returned bare by FrameSocket.SendFrame
# (socket/framesocket.go:154); its cause here is Go's net.ErrClosed.
WEBSOCKET_WRITE = "failed to write msg: %w"
NET_CLOSED = "use of closed network connection"

FORMATS: frozenset[str] = frozenset(
    {
        CLIENT_IS_NIL,
        IQ_TIMED_OUT,
        NOT_CONNECTED,
        NOT_LOGGED_IN,
        MESSAGE_TIMED_OUT,
        NOT_IN_GROUP,
        GROUP_NOT_FOUND,
        BROADCAST_UNSUPPORTED,
        UNKNOWN_SERVER,
        RECIPIENT_AD_JID,
        SERVER_RETURNED_ERROR,
        IQ_STATUS,
        DISCONNECTED_BEFORE,
        RETRY_ACTION,
        WRAP_SUFFIX,
        WRAP_NUMBER,
        GROUP_MEMBERS,
        BROADCAST_MEMBERS,
        USER_INFO_FOR_LID,
        NO_LID,
        SEND_NODE,
        DEVICE_LIST,
        USYNC,
        EXECUTE_REQUEST,
        UPLOAD_STATUS,
        SOCKET_CLOSED,
        WEBSOCKET_WRITE,
        NET_CLOSED,
    }
)
_VERB = re.compile(r"%[sdwv]")


class GoError(str):
    """An error text rendered by ``go_errorf`` from whatsmeow's formats."""


def go_errorf(format_: str, *args: object) -> GoError:
    """``fmt.Errorf(format_, args...).Error()`` for %s, %d, %w and %v; the format must be in FORMATS."""
    if format_ not in FORMATS:
        raise AssertionError(f"{format_!r} is not a whatsmeow format listed in FORMATS")
    values = iter(args)
    text = _VERB.sub(lambda _verb: str(next(values)), format_)
    if next(values, None) is not None:
        raise AssertionError(f"too many arguments for {format_!r}")
    return GoError(text)
