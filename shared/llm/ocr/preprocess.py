"""Image clean-up before OCR: decode, grayscale, deskew, table-line removal.

Tesseract reads a line of text along the image rows, so a page photographed a few degrees off
level mixes neighbouring rows, and table grid lines turn into stray characters or hide digits;
both are fixed here, and each step can be switched off.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SKEW_DEG = 6.0
_DESKEW_WIDTH = 900  # the angle is searched on a copy this wide; it is plenty for 0.05 degrees
_MAX_INK_SHARE = 0.25
_INK_BLOCK_PX, _INK_CONTRAST = 31, 20  # on the search copy: a stroke is 20 grey levels below its 31 px neighbourhood
_MIN_SKEW_DEG = 0.05  # below this, rotating would only soften the glyphs
_BLURRY_LAPLACIAN_VARIANCE = 400.0
# The long side a page is read at (bench/photo_extract.py and bench/ocr_accuracy.py measured it):
# generated forms are rendered at 1650-1950 px wide, and read best there.
READ_LONG_SIDE = 2200
# The most an enlarged (blurred or thin-stroked) page grows to: a generated form enlarged 1.5 times.
MAX_ENLARGED_LONG_SIDE = 3000


def decode_gray(image: bytes, *, max_long_side: int | None = None) -> np.ndarray:
    """Decode PNG/JPEG/WebP/TIFF bytes into an 8-bit grayscale array.

    With `max_long_side`, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4 or 1/8 scale whose
    long side still reaches it (libjpeg skips the detail it would otherwise decode and throw away:
    a 12 MP photo decodes in about a quarter of the time); other formats decode whole.

    Raises:
        ValueError: The bytes are not an image Pillow can decode.
    """
    try:
        with Image.open(io.BytesIO(image)) as opened:
            if max_long_side is not None and opened.format == "JPEG":
                scale = min(1.0, max_long_side / max(opened.size))
                opened.draft("L", (math.ceil(opened.width * scale), math.ceil(opened.height * scale)))
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
                background = Image.new("RGBA", upright.size, (255, 255, 255, 255))
                background.alpha_composite(upright.convert("RGBA"))
                upright = background
            gray = upright.convert("L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError("The image bytes could not be decoded; send a PNG, JPEG, WebP or TIFF image.") from error
    return np.asarray(gray, dtype=np.uint8)


def estimate_skew(gray: np.ndarray, *, max_angle: float = MAX_SKEW_DEG) -> float:
    """Angle in degrees (counter-clockwise, like PIL's rotate) that the page's text is tilted by.

    Tries angles coarse to fine and keeps the one whose text-row projection profile is sharpest.
    """
    scale = min(1.0, _DESKEW_WIDTH / gray.shape[1])
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > _MAX_INK_SHARE:
        # Otsu took a photo's desk around the page for ink (a form's ink is under 11% of it, a
        # desk 40-50%), and the frame's straight edges would pull the angle to 0: ink is then
        # what is darker than its own neighbourhood.
        ink = cv2.adaptiveThreshold(
            small, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, _INK_BLOCK_PX, _INK_CONTRAST
        )
    ys, xs = np.nonzero(ink)
    if xs.size < 50:
        return 0.0
    xs = xs.astype(np.float64) - small.shape[1] / 2
    ys = ys.astype(np.float64) - small.shape[0] / 2
    height = int(math.hypot(*small.shape)) + 4

    def sharpness(angle: float) -> float:
        theta = math.radians(angle)
        # row of each ink pixel once the page is turned by -angle (image y points down)
        rows = ys * math.cos(theta) + xs * math.sin(theta)
        profile = np.bincount((rows + height / 2).astype(np.int64), minlength=height).astype(np.float64)
        return float(np.sum(np.diff(profile) ** 2))

    best = 0.0
    for step, span in ((1.0, max_angle), (0.2, 1.0), (0.05, 0.2)):
        count = int(round(span / step))
        candidates = [best + step * k for k in range(-count, count + 1)]
        candidates = [a for a in candidates if abs(a) <= max_angle + 1e-9]
        best = max(candidates, key=sharpness)
    return best


def rotate(gray: np.ndarray, angle: float) -> np.ndarray:
    """Turn the page by `angle` degrees counter-clockwise, growing the canvas with white."""
    height, width = gray.shape
    theta = math.radians(angle)
    new_width = int(math.ceil(abs(width * math.cos(theta)) + abs(height * math.sin(theta))))
    new_height = int(math.ceil(abs(height * math.cos(theta)) + abs(width * math.sin(theta))))
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[0, 2] += (new_width - width) / 2
    matrix[1, 2] += (new_height - height) / 2
    return cv2.warpAffine(
        gray,
        matrix,
        (new_width, new_height),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )


def deskew(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Level the page; returns the levelled image and the skew angle that was removed."""
    angle = estimate_skew(gray)
    if abs(angle) < _MIN_SKEW_DEG:
        return gray, 0.0
    return rotate(gray, -angle), angle


def remove_lines(gray: np.ndarray) -> np.ndarray:
    """Paint long horizontal and vertical strokes (table rules, signature lines) white.

    A stroke counts as a line when it is at least about 4% of the page long, far longer than any
    digit or letter stroke, so the characters survive.
    """
    height, width = gray.shape
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    horizontal_length = max(40, int(width * 0.04))
    vertical_length = max(40, int(max(height, width) * 0.035))
    horizontal_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (horizontal_length, 1))
    vertical_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1, vertical_length))
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, horizontal_kernel)
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, vertical_kernel)
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((5, 5), np.uint8))
    cleaned = gray.copy()
    cleaned[lines > 0] = 255
    return cleaned


def sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask: restores the edges of blurred glyphs (a lone blurred "0" reads as ")" otherwise)."""
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 2.0, blurred, -1.0, 0)


def enlarge(gray: np.ndarray, factor: float = 1.5) -> np.ndarray:
    """Upscale: thin strokes (FreeMono, light scans) get enough pixels for Tesseract.

    Never beyond MAX_ENLARGED_LONG_SIDE: past it, glyphs already have plenty of pixels and
    Tesseract's time only grows with the area.
    """
    factor = min(factor, MAX_ENLARGED_LONG_SIDE / max(gray.shape))
    if factor <= 1.0:
        return gray
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Black and white by Otsu's threshold."""
    _, black_white = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return black_white


def fit_resolution(gray: np.ndarray, *, long_side: int = READ_LONG_SIDE, min_width: int = 1600) -> np.ndarray:
    """Scale the page to the size Tesseract reads best: a phone photo down, a small photo up.

    A 12 MP photo has several times the pixels its text needs (Tesseract is best at about 20 px
    x-height) and every pass costs time in proportion to the area; a small photo's text is too
    short, so it is enlarged to `min_width`, never past `long_side`.
    """
    height, width = gray.shape
    if max(height, width) > long_side:
        factor = long_side / max(height, width)
        return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    factor = min(min_width / width, long_side / max(height, width))
    if factor <= 1.0:
        return gray
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def is_blurry(gray: np.ndarray) -> bool:
    """Whether the page is out of focus: sharp scans have a Laplacian variance in the thousands."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var()) < _BLURRY_LAPLACIAN_VARIANCE


def restore_blur(gray: np.ndarray) -> np.ndarray:
    """Sharpen and enlarge an out-of-focus page; blurred "l" and "0" otherwise read as "i" and "8"."""
    return enlarge(sharpen(gray))


@dataclass(frozen=True)
class PageGeometry:
    """How a page read by OCR lies on the image it came from: the upright image scaled to
    `fitted` (width, height), then turned by `angle` degrees onto a `turned` canvas; any later
    change (blur restoration, an enlarged variant) only scales the turned page."""

    fitted: tuple[int, int]
    turned: tuple[int, int]
    angle: float

    def to_image(self, box: tuple[float, float, float, float], page_shape: tuple[int, ...]) -> list[float]:
        """A box (left, top, right, bottom) in pixels of a page of `page_shape` as [x0, y0, x1, y1],
        fractions of the upright image's width and height (the axis-aligned box around it)."""
        scale_x, scale_y = page_shape[1] / self.turned[0], page_shape[0] / self.turned[1]
        left, top, right, bottom = box[0] / scale_x, box[1] / scale_y, box[2] / scale_x, box[3] / scale_y
        corners = [(left, top), (right, top), (left, bottom), (right, bottom)]
        if self.angle:
            # deskew turned the fitted page by -angle about its centre onto a grown canvas: undo that
            theta = math.radians(-self.angle)
            cos, sin = math.cos(theta), math.sin(theta)
            cx_turned, cy_turned = self.turned[0] / 2, self.turned[1] / 2
            cx, cy = self.fitted[0] / 2, self.fitted[1] / 2
            corners = [
                (
                    cx + (x - cx_turned) * cos - (y - cy_turned) * sin,
                    cy + (x - cx_turned) * sin + (y - cy_turned) * cos,
                )
                for x, y in corners
            ]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        width, height = self.fitted
        return [
            round(min(max(min(xs) / width, 0.0), 1.0), 4),
            round(min(max(min(ys) / height, 0.0), 1.0), 4),
            round(min(max(max(xs) / width, 0.0), 1.0), 4),
            round(min(max(max(ys) / height, 0.0), 1.0), 4),
        ]


def prepare(image: bytes, *, deskew_page: bool = True, remove_table_lines: bool = True) -> tuple[np.ndarray, float]:
    """Decode and clean an image for OCR; returns the grayscale page and the skew removed (degrees)."""
    gray, geometry = prepare_page(image, deskew_page=deskew_page, remove_table_lines=remove_table_lines)
    return gray, geometry.angle


def prepare_page(
    image: bytes, *, deskew_page: bool = True, remove_table_lines: bool = True
) -> tuple[np.ndarray, PageGeometry]:
    """Decode and clean an image for OCR; returns the grayscale page and how it lies on the image.

    Deskewing and line removal are the model's switches; blur restoration always runs, and
    only changes a page that measures as blurry.
    """
    decoded = decode_gray(image, max_long_side=READ_LONG_SIDE)
    gray = fit_resolution(decoded, long_side=READ_LONG_SIDE)
    fitted = (gray.shape[1], gray.shape[0])
    upscaled = gray.shape[1] > decoded.shape[1]
    angle = 0.0
    if deskew_page:
        gray, angle = deskew(gray)
    geometry = PageGeometry(fitted=fitted, turned=(gray.shape[1], gray.shape[0]), angle=angle)
    if remove_table_lines:
        gray = remove_lines(gray)
    if is_blurry(gray):
        # An upscaled photo measures as blurry and has had its enlargement: more pixels would add
        # Tesseract time, not detail (a 540x720 photo was read at 2284x3000 otherwise).
        gray = sharpen(gray) if upscaled else restore_blur(gray)
    return gray, geometry
