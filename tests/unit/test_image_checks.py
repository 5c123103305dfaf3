"""Uploads are checked by magic bytes, size and pixel count before anything is stored."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from shared.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType
from shared.images import validate_image

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 4_000_000}


def encoded(fmt: str, size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims the given size (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("TIFF", "image/tiff")],
)
def test_accepts_each_supported_format_by_its_bytes(fmt, content_type):
    assert validate_image(encoded(fmt), **LIMITS) == content_type


def test_refuses_text_named_like_a_png():
    with pytest.raises(UnsupportedMediaType):
        validate_image(b"this is not an image at all", **LIMITS)


def test_refuses_empty_and_oversized_uploads():
    with pytest.raises(InvalidField):
        validate_image(b"", **LIMITS)
    with pytest.raises(PayloadTooLarge):
        validate_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * LIMITS["max_bytes"], **LIMITS)


@pytest.mark.parametrize("side", [3000, 50_000])
def test_refuses_a_header_claiming_too_many_pixels(side):
    with pytest.raises(PayloadTooLarge):
        validate_image(png_header_claiming(side, side), **LIMITS)


def test_refuses_a_truncated_image():
    with pytest.raises(InvalidField):
        validate_image(encoded("PNG")[:30], **LIMITS)
