"""``Authorization`` as OpenAI reads it: a bearer key (or a basic password), checked first."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection

from .errors import incorrect_api_key, missing_api_key

__all__ = ["api_key_from_header", "authenticate"]


def api_key_from_header(header: str | None) -> str | None:
    """The key in ``Bearer KEY`` or in the password of ``Basic base64(:KEY)``; ``None`` if absent."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def authenticate(header: str | None, allowed: Collection[str]) -> str:
    """The caller's key; OpenAI's 401 if there is none, or if ``allowed`` is set and lacks it."""
    key = api_key_from_header(header)
    if key is None:
        raise missing_api_key()
    if allowed and key not in allowed:
        raise incorrect_api_key(key)
    return key
