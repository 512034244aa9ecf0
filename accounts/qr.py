"""QR strings from WhatsApp (or the sandbox) rendered as PNG images and data URLs."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

MAX_QR_LENGTH = 2048  # far above a WhatsApp login code (about 240 characters)


def qr_png(data: str, *, box_size: int = 8, border: int = 2) -> bytes:
    """Render ``data`` as a black-on-white PNG; raises ValueError for empty or oversized input."""
    if not data:
        raise ValueError("nothing to encode")
    if len(data) > MAX_QR_LENGTH:
        raise ValueError(f"QR data longer than {MAX_QR_LENGTH} characters")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def qr_data_url(data: str) -> str:
    """The PNG as a ``data:image/png;base64,…`` URL, ready for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(qr_png(data)).decode("ascii")
