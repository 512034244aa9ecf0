"""Media for messages: checking that bytes are what they claim, storing them, and fetching media URLs."""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import FileResponse
from PIL import Image, UnidentifiedImageError

from messaging.models import Media
from wildcat import destinations, outbound
from wildcat.errors import AppError, ErrorCode
from wildcat.whatsapp import MessageType

logger = logging.getLogger(__name__)
MEDIA_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT, MessageType.STICKER}
)
# What WhatsApp's phones record a voice note as, and the exact mimetype a voice note must carry for
# every client to play it (others show "audio no longer available").
OGG_OPUS = "audio/ogg; codecs=opus"
_IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# What each message type may carry, by the mimetype sniffed from the bytes: the formats WhatsApp's
# clients play inline. Anything else (WebM, QuickTime, WAV…) can still go as a document.
_ALLOWED = {
    MessageType.IMAGE: {"image/jpeg", "image/png", "image/webp", "image/gif"},
    MessageType.STICKER: {"image/webp"},
    MessageType.VIDEO: {"video/mp4", "video/3gpp"},
    MessageType.AUDIO: {OGG_OPUS, "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr"},
}
_ISO_BRANDS = {
    b"3gp": "video/3gpp",
    b"3g2": "video/3gpp",
    b"qt ": "video/quicktime",
    b"M4A": "audio/mp4",
    b"M4B": "audio/mp4",
}
# Declared mimetypes whose signature we know: a document claiming one of these must match.
_SIGNED_DOCUMENTS = {"application/pdf", "application/zip", "image/jpeg", "image/png", "image/gif", "image/webp"}
_OFFICE_ZIP_PREFIX = "application/vnd.openxmlformats-officedocument"


def _sniff_iso(data: bytes) -> str | None:
    if data[4:8] != b"ftyp":
        return None
    brand = data[8:11]
    return _ISO_BRANDS.get(brand, "video/mp4")


def sniff_mimetype(data: bytes) -> str | None:
    """The mimetype the bytes actually are, from magic numbers (images are confirmed by Pillow)."""
    head = data[:64]
    signatures: list[tuple[bool, str]] = [
        (head.startswith(b"%PDF-"), "application/pdf"),
        (head.startswith(b"PK\x03\x04"), "application/zip"),
        (head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "application/x-ole-storage"),
        # An Ogg stream's first page holds the codec's identification header (RFC 7845 section 5.1).
        (head.startswith(b"OggS") and b"OpusHead" in head, OGG_OPUS),
        (head.startswith(b"OggS"), "audio/ogg"),
        (head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"), "audio/mpeg"),
        (head[:2] in (b"\xff\xf1", b"\xff\xf9"), "audio/aac"),
        (head.startswith(b"#!AMR"), "audio/amr"),
        (head.startswith(b"RIFF") and head[8:12] == b"WAVE", "audio/wav"),
        (head.startswith(b"\x1a\x45\xdf\xa3"), "video/webm"),
    ]
    for matched, mimetype in signatures:
        if matched:
            return mimetype
    iso = _sniff_iso(head)
    if iso:
        return iso
    return _sniff_image(data)


def _sniff_image(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return _IMAGE_FORMATS.get(image.format or "")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _base(mimetype: str) -> str:
    return (mimetype or "").split(";", 1)[0].strip().lower()


def media_check(*, data: bytes, declared_mimetype: str, message_type: str) -> str:
    """Validate media bytes for a message type; returns the mimetype to store. Raises a 400 otherwise."""
    if not data:
        raise AppError(ErrorCode.MEDIA_UNREADABLE, "The media is empty.")
    if len(data) > settings.WILDCAT_MAX_MEDIA_BYTES:
        raise AppError(ErrorCode.MEDIA_TOO_LARGE, f"The media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes.")
    declared = _base(declared_mimetype)
    sniffed = sniff_mimetype(data)
    allowed = _ALLOWED.get(MessageType(message_type))
    if allowed is not None:
        if sniffed not in allowed:
            hint = "; WhatsApp clients do not play it inline, send it as a document" if sniffed else ""
            raise AppError(
                ErrorCode.MEDIA_TYPE_MISMATCH,
                f"The media is not a valid {message_type} (detected {sniffed or 'unknown data'}){hint}.",
            )
        if declared and declared != "application/octet-stream" and declared.split("/")[0] != sniffed.split("/")[0]:
            raise AppError(ErrorCode.MEDIA_TYPE_MISMATCH, f"The media claims to be {declared} but is {sniffed}.")
        return sniffed
    return _document_mimetype(declared, sniffed)


def _document_mimetype(declared: str, sniffed: str | None) -> str:
    """Documents may be anything, but a type with a known signature must carry that signature."""
    if declared in _SIGNED_DOCUMENTS or declared.startswith(_OFFICE_ZIP_PREFIX):
        expected = "application/zip" if declared.startswith(_OFFICE_ZIP_PREFIX) else declared
        if sniffed != expected:
            raise AppError(
                ErrorCode.MEDIA_TYPE_MISMATCH,
                f"The media claims to be {declared} but is {sniffed or 'something else'}.",
            )
        return declared
    if declared and declared != "application/octet-stream":
        return declared
    return sniffed or "application/octet-stream"


@contextmanager
def media_files_discarded_on_error() -> Iterator[list[Media]]:
    """Collects the media written inside the block; if the block raises, their files are deleted.

    Their rows roll back with the transaction, but storage is not transactional: without this, a
    failed store would leave files that no row points to, which retention never finds.
    """
    written: list[Media] = []
    try:
        yield written
    except BaseException:
        for media in written:
            try:
                media.file.storage.delete(media.file.name)
            except OSError:  # the original error matters more; the file is only garbage
                logger.warning("could not remove media file %s of a failed store", media.file.name, exc_info=True)
        raise


def media_store(*, api_key_id: int, data: bytes, mimetype: str, filename: str = "") -> Media:
    """Write the bytes to storage and record them; the caller holds the transaction.

    Callers inside a transaction that can still fail wrap it in ``media_files_discarded_on_error``.
    """
    digest = hashlib.sha256(data).hexdigest()
    extension = mimetypes.guess_extension(mimetype) or ""
    media = Media(api_key_id=api_key_id, mimetype=mimetype, size=len(data), sha256=digest, filename=filename[:255])
    media.file.save(f"{secrets.token_hex(8)}{extension}", ContentFile(data), save=False)
    media.save()
    return media


def media_fetch_url(url: str, *, api_key_id: int) -> tuple[bytes, str]:
    """Download a media URL through the guarded outbound module; never hands the URL to a driver.

    The whole download is bounded by ``WILDCAT_MEDIA_FETCH_TIMEOUT``, and how many run at once by
    ``WILDCAT_MEDIA_FETCH_MAX_CONCURRENT`` (overall) and ``..._PER_KEY``: it runs inside an API request.
    """
    timeout = settings.WILDCAT_MEDIA_FETCH_TIMEOUT
    try:
        resource = outbound.fetch(
            url, max_bytes=settings.WILDCAT_MAX_MEDIA_BYTES, timeout=timeout, owner=f"key:{api_key_id}"
        )
    except destinations.UnsafeDestination as exc:
        raise AppError(ErrorCode.MEDIA_URL_REFUSED, f"The media URL is not allowed: {exc.message}")
    except destinations.OutboundError as exc:
        if exc.code == "busy":
            message = "Too many media URLs are being fetched at once; retry shortly."
            raise AppError(ErrorCode.THROTTLED, message, {"retry_after": int(timeout + 0.999)}) from exc
        if exc.code == "too_large":
            raise AppError(
                ErrorCode.MEDIA_TOO_LARGE, f"The media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes."
            )
        raise AppError(ErrorCode.MEDIA_FETCH_FAILED, f"The media URL could not be fetched: {exc.message}")
    return resource.content, resource.content_type


def media_read(media: Media) -> bytes:
    with media.file.open("rb") as handle:
        return handle.read()


# Media is whatever a sender claimed it to be: never rendered as a page of ours, never sniffed into
# something else, and anything active in it runs nowhere (sandboxed, no sources at all).
MEDIA_CONTENT_SECURITY_POLICY = "sandbox; default-src 'none'"


def media_file_response(media: Media) -> FileResponse:
    """A media file as a download: an attachment with ``nosniff`` and a sandboxing CSP (API and admin)."""
    extension = mimetypes.guess_extension(media.mimetype or "") or ""
    filename = media.filename or f"media-{media.pk}{extension}"
    response = FileResponse(media.file.open("rb"), content_type=media.mimetype, as_attachment=True, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = MEDIA_CONTENT_SECURITY_POLICY
    response["Content-Length"] = str(media.size)
    return response


def media_orphans_delete(*, media_ids: list[int]) -> int:
    """Delete those media that no message refers to any more, their files once the transaction commits."""
    orphans = list(Media.objects.filter(pk__in=media_ids, messages__isnull=True))
    for media in orphans:
        name, storage = media.file.name, media.file.storage
        transaction.on_commit(lambda name=name, storage=storage: storage.delete(name))
    return Media.objects.filter(pk__in=[media.pk for media in orphans]).delete()[0]
