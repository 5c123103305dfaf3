"""Opaque page tokens: the last key of a page, so the next page starts after it."""

from __future__ import annotations

import base64
import binascii
import re

from shared.errors import MalformedRequest

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,255}$")


def encode_page_token(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    """The key a token stands for; anything this API did not give out is 400."""
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not _KEY.fullmatch(key) or ".." in key:
        raise MalformedRequest("page_token is not one this API gave out.")
    return key
