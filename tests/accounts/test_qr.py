"""QR strings become PNG images whose modules match the encoded matrix."""

from __future__ import annotations

import base64
import io

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from accounts.qr import qr_data_url, qr_png

SAMPLE = ",".join(
    [
        "2@Ya3KSk2pdH0bPpHh1uJ3mw==",
        "6m5GMQ2e2B4lCHPqf0m6xJhHJkNn0P3ZkYwD1sSm9Xg=",
        "Q8j0K7fR6k1m2n3b4v5c6x7z8l9k0j1h2g3f4d5s6a4=",
        "u7YyE0r9wq8pX2c5v1b3n6m4k2j8h7g5f3d1s9a0Qw4=",
    ]
)


def test_png_pixels_match_the_qr_matrix():
    image = Image.open(io.BytesIO(qr_png(SAMPLE, box_size=4, border=2))).convert("L")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=4, border=2)
    code.add_data(SAMPLE)
    code.make(fit=True)
    matrix = code.get_matrix()  # includes the border
    assert image.size == (len(matrix) * 4, len(matrix) * 4)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            pixel = image.getpixel((col * 4 + 2, row * 4 + 2))
            assert (pixel < 128) == dark, (row, col)


def test_data_url_and_distinct_codes():
    url = qr_data_url(SAMPLE)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == qr_png(SAMPLE)
    assert qr_png(SAMPLE) != qr_png(SAMPLE.replace("Ya3", "Zb4"))


def test_empty_and_oversized_input_is_refused():
    with pytest.raises(ValueError):
        qr_png("")
    with pytest.raises(ValueError):
        qr_png("x" * 5000)
