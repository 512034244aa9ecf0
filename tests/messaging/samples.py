"""Small real media files for tests: each starts with the bytes its format really starts with."""

from __future__ import annotations

import base64
import io
import struct

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
WEBP = image_bytes("WEBP")
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 80


def _ogg_crc(page: bytes) -> int:
    """The Ogg page checksum (RFC 3533 section 6: CRC-32, polynomial 0x04c11db7, no reflection)."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(payload: bytes, *, sequence: int, first: bool) -> bytes:
    header = b"OggS" + bytes([0, 2 if first else 0]) + struct.pack("<qII", 0, 0x5743_4154, sequence)
    page = header + b"\x00\x00\x00\x00" + bytes([1, len(payload)]) + payload
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


# An Ogg/Opus stream's two header pages (RFC 7845 section 5): what a phone's voice note starts with.
OGG_OPUS = _ogg_page(b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48_000, 0, 0), sequence=0, first=True) + (
    _ogg_page(b"OpusTags" + struct.pack("<I", 7) + b"wildcat" + struct.pack("<I", 0), sequence=1, first=False)
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
