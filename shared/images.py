"""Checks on an uploaded image before anything is stored: base64, type by magic bytes, size, pixels."""

from __future__ import annotations

import base64
import binascii
import io

from shared.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def decode_image_base64(encoded: str) -> bytes:
    """The bytes of an `image_base64` field; InvalidField when it is not valid base64."""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64 is not valid base64.", details={"field": "image_base64"}) from None


def sniff_content_type(image: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if image.startswith(signature):
            return content_type
    if len(image) >= 12 and image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    return None


def validate_image(image: bytes, *, max_bytes: int, max_pixels: int) -> str:
    """Return the image's content type, or raise the error a client should see."""
    if not image:
        raise InvalidField("The image is empty.", details={"field": "image"})
    if len(image) > max_bytes:
        raise PayloadTooLarge(
            f"The image is {len(image)} bytes; the limit is {max_bytes}.", details={"limit_bytes": max_bytes}
        )
    content_type = sniff_content_type(image)
    if content_type is None:
        raise UnsupportedMediaType("The image must be PNG, JPEG, WebP or TIFF.", details={"field": "image"})
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as opened:  # reads the header only
            width, height = opened.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"The image is {width}x{height} pixels; the limit is {max_pixels} pixels.",
                    details={"limit_pixels": max_pixels},
                )
            opened.verify()
    except PayloadTooLarge:
        raise
    except Image.DecompressionBombError:
        raise PayloadTooLarge(
            f"The image claims more pixels than the limit of {max_pixels}.", details={"limit_pixels": max_pixels}
        ) from None
    except Exception as error:  # PIL raises many types for corrupt files
        raise InvalidField(f"The image cannot be decoded: {error}", details={"field": "image"}) from None
    return content_type
