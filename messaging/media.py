"""Media for messages: checking that bytes are what they claim, storing them, and fetching media URLs."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, UnidentifiedImageError

from messaging.models import Media
from wildcat.errors import AppError, ErrorCode
from wildcat.whatsapp import MessageType

MEDIA_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT, MessageType.STICKER}
)
_IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# What each message type may carry, by the mimetype sniffed from the bytes.
_ALLOWED = {
    MessageType.IMAGE: {"image/jpeg", "image/png", "image/webp", "image/gif"},
    MessageType.STICKER: {"image/webp"},
    MessageType.VIDEO: {"video/mp4", "video/3gpp", "video/webm", "video/quicktime"},
    MessageType.AUDIO: {"audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/amr", "audio/wav", "audio/webm"},
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
            raise AppError(
                ErrorCode.MEDIA_TYPE_MISMATCH,
                f"The media is not a valid {message_type} (detected {sniffed or 'unknown data'}).",
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


def media_store(*, api_key_id: int, data: bytes, mimetype: str, filename: str = "") -> Media:
    """Write the bytes to storage and record them; the caller holds the transaction."""
    digest = hashlib.sha256(data).hexdigest()
    extension = mimetypes.guess_extension(mimetype) or ""
    media = Media(api_key_id=api_key_id, mimetype=mimetype, size=len(data), sha256=digest, filename=filename[:255])
    media.file.save(f"{secrets.token_hex(8)}{extension}", ContentFile(data), save=False)
    media.save()
    return media


def media_fetch_url(url: str) -> tuple[bytes, str]:
    """Download a media URL through the guarded outbound module; never hands the URL to a driver."""
    from wildcat import outbound

    try:
        resource = outbound.fetch(
            url, max_bytes=settings.WILDCAT_MAX_MEDIA_BYTES, timeout=settings.WILDCAT_MEDIA_FETCH_TIMEOUT
        )
    except outbound.UnsafeDestination as exc:
        raise AppError(ErrorCode.MEDIA_URL_REFUSED, f"The media URL is not allowed: {exc.message}")
    except outbound.OutboundError as exc:
        if exc.code == "too_large":
            raise AppError(
                ErrorCode.MEDIA_TOO_LARGE, f"The media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes."
            )
        raise AppError(ErrorCode.MEDIA_FETCH_FAILED, f"The media URL could not be fetched: {exc.message}")
    return resource.content, resource.content_type


def media_read(media: Media) -> bytes:
    with media.file.open("rb") as handle:
        return handle.read()
