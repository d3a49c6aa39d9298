"""Identifiers and secret values, drawn from one seedable generator."""

from __future__ import annotations

import random
import string

__all__ = ["IdFactory"]

_ALNUM = string.ascii_letters + string.digits


class IdFactory:
    """Makes ``ek_`` secrets, ``sess_`` ids and ``req_`` ids from a seeded ``random.Random``.

    Two servers started with the same seed that see the same requests mint the
    same values.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._random = random.Random(seed)

    def reseed(self) -> None:
        self._random = random.Random(self.seed)

    def _hex(self, length: int) -> str:
        return f"{self._random.getrandbits(4 * length):0{length}x}"

    def client_secret(self, created_at: int) -> str:
        """``ek_`` + 32 lowercase hex: creation time (8), random (4), ``8191`` (4), random (16).

        Both real secrets in GROUND_TRUTH §3.6 start with their creation time and
        carry ``8191`` at hex 13-16; the mock keeps both traits.
        """
        return f"ek_{created_at & 0xFFFFFFFF:08x}{self._hex(4)}8191{self._hex(16)}"

    def session_id(self) -> str:
        """``sess_`` + 21 alphanumerics."""
        return "sess_" + "".join(self._random.choices(_ALNUM, k=21))

    def event_id(self) -> str:
        """``event_`` + 21 alphanumerics."""
        return "event_" + "".join(self._random.choices(_ALNUM, k=21))

    def request_id(self) -> str:
        """``req_`` + 32 lowercase hex."""
        return "req_" + self._hex(32)
