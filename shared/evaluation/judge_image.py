"""The form's image for a judge that sees it (`llm_judge` with `sees_image`), and what it costs.

The image reaches evaluators in their context's `input` (`IMAGE`, `IMAGE_CONTENT_TYPE`): extract
puts the uploaded image there, an experiment run the entry's image.

Gemini bills an image as a fixed token count: "image inputs with both dimensions <= 384 pixels
are counted as 258 tokens; images larger in one or both dimensions are cropped and scaled as needed
into tiles of 768x768 pixels, each counted as 258 tokens" (Gemini API docs, "Understand and count
tokens", https://ai.google.dev/gemini-api/docs/tokens, for Gemini 2.0 and 2.5 models).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

IMAGE = "image"
IMAGE_CONTENT_TYPE = "image_content_type"

TOKENS_PER_TILE = 258
SMALL_IMAGE_SIDE = 384
TILE_SIDE = 768
# For a cost estimate before any image is read: a form photographed or scanned at about 2,000
# pixels on its long side (1536x2048: 2x3 tiles, 1,548 tokens).
ESTIMATED_IMAGE_SIZE = (1536, 2048)


def image_tokens(width: int, height: int) -> int:
    """Gemini's input tokens for one image of width x height pixels (the documented figure)."""
    if width <= SMALL_IMAGE_SIDE and height <= SMALL_IMAGE_SIDE:
        return TOKENS_PER_TILE
    return math.ceil(width / TILE_SIDE) * math.ceil(height / TILE_SIDE) * TOKENS_PER_TILE


ESTIMATED_IMAGE_TOKENS = image_tokens(*ESTIMATED_IMAGE_SIZE)


def image_size(image: bytes) -> tuple[int, int] | None:
    """The image's (width, height) from its header; None when Pillow cannot read it."""
    from PIL import Image  # heavy: not on extract's import path

    try:
        with Image.open(io.BytesIO(image)) as opened:
            return opened.size
    except Exception:
        return None


def judged_image(input: Mapping[str, Any]) -> tuple[bytes, str] | None:
    """The form's image and content type from an evaluator's input, when it is there."""
    image, content_type = input.get(IMAGE), input.get(IMAGE_CONTENT_TYPE)
    if isinstance(image, bytes | bytearray) and image and isinstance(content_type, str) and content_type:
        return bytes(image), content_type
    return None
