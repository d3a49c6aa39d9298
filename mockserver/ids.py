"""Identifiers and secret values, drawn from one seedable generator."""

from __future__ import annotations

import functools
import hashlib
import hmac
import random
import string
import struct

__all__ = ["IdFactory", "is_mock_secret"]

_ALNUM = string.ascii_letters + string.digits
_TAG_KEY = b"openai-realtime-mock"
#: Maps each byte to one of the 62 alphanumerics (a slight bias, harmless for fake ids).
_TO_ALNUM = bytes(_ALNUM.encode()[b % 62] for b in range(256))


#: A secret's head: creation time, 16 random bits, 0x8191, 32 random bits (hexed: 8 + 4 + 4 + 8 digits).
_HEAD = struct.Struct(">IHHI")
#: The keyed hash, its key block already compressed: each tag copies it rather than keying a new one.
_TAGGER = hashlib.blake2s(key=_TAG_KEY, digest_size=4)


def _tag(head: str) -> str:
    tagger = _TAGGER.copy()
    tagger.update(head.encode())
    return tagger.hexdigest()


def is_mock_secret(value: str) -> bool:
    """Whether ``value`` is an ``ek_`` key this mock minted (any instance, any seed).

    A real key passes by chance once in about four billion; and OpenAI never issued
    the mock's keys, so they authenticate nothing outside it.
    """
    if len(value) != 35 or not value.startswith("ek_"):
        return False
    head, tag = value[3:27], value[27:]
    return all(c in "0123456789abcdef" for c in value[3:]) and hmac.compare_digest(tag, _tag(head))


class IdFactory:
    """Makes ``ek_`` secrets, ``sess_``, ``event_``, ``req_``, ``rtc_`` and webhook ids from one seed.

    Each kind of value is drawn from its own stream derived from the seed, so two
    servers started with the same seed mint the same secrets and session ids in the
    same order, however many other requests (health checks, errors) they served.
    """

    def __init__(self, seed: int, *, process: int = 1) -> None:
        self.seed = seed
        # Process 1 (and any single process) draws the seed's own streams; the others sharing a store
        # draw streams derived from the seed and their number, so no two processes mint the same id.
        self._root = str(seed) if process == 1 else f"{seed}/process-{process}"
        self.reseed()

    def reseed(self) -> None:
        """Back to the seed's first draw of every stream."""
        root = self._root
        self._minted = random.Random(f"{root}:minted")
        self._requests = random.Random(f"{root}:requests")
        # The streams most servers never draw from are seeded on first use (seeding one costs ~5 µs,
        # and a test fixture creates a server per test).
        for lazy in ("_events", "_calls", "_webhooks"):
            self.__dict__.pop(lazy, None)

    @functools.cached_property
    def _events(self) -> random.Random:
        return random.Random(f"{self._root}:events")

    @functools.cached_property
    def _calls(self) -> random.Random:
        return random.Random(f"{self._root}:calls")

    @functools.cached_property
    def _webhooks(self) -> random.Random:
        return random.Random(f"{self._root}:webhooks")

    @staticmethod
    def _hex(rng: random.Random, length: int) -> str:
        """``length`` (even) lowercase hex digits: one draw, as ``f"{draw:0{length}x}"`` in half the time."""
        return rng.getrandbits(4 * length).to_bytes(length // 2, "big").hex()

    def client_secret(self, created_at: int) -> str:
        """``ek_`` + 32 lowercase hex: creation time (8), random (4), ``8191`` (4), random (8), tag (8).

        Both real secrets in GROUND_TRUTH §3.6 start with their creation time and
        carry ``8191`` at hex 13-16; the mock keeps both traits. The last 8 hex are a
        keyed hash of the rest, so :func:`is_mock_secret` tells the mock's keys apart.
        """
        # One draw of two words: the low word's top 16 bits, then the high word, as two draws
        # (getrandbits(16), then getrandbits(32)) would give, so a seed mints what it always did.
        # Packed and hexed at once: a third of the cost of formatting the three numbers.
        words = self._minted.getrandbits(64)
        head = _HEAD.pack(created_at & 0xFFFFFFFF, (words & 0xFFFFFFFF) >> 16, 0x8191, words >> 32).hex()
        return f"ek_{head}{_tag(head)}"

    def session_id(self) -> str:
        """``sess_`` + 21 alphanumerics."""
        # What randbytes(21) is (random.py), without its Python-level call.
        return "sess_" + self._minted.getrandbits(168).to_bytes(21, "little").translate(_TO_ALNUM).decode()

    def event_id(self) -> str:
        """``event_`` + 21 alphanumerics."""
        return "event_" + self._events.randbytes(21).translate(_TO_ALNUM).decode()

    def media_event_id(self) -> str:
        """``event_`` + 16 lowercase hex, as WebRTC's ``output_audio_buffer.*`` events have (SESSION_TRUTH §1)."""
        return "event_" + self._hex(self._events, 16)

    def request_id(self) -> str:
        """``req_`` + 32 lowercase hex."""
        return "req_" + self._requests.getrandbits(128).to_bytes(16, "big").hex()  # _hex, inlined: every request

    def call_id(self) -> str:
        """``rtc_`` + 32 lowercase hex, as WebRTC and SIP call ids are (SESSION_TRUTH §1)."""
        return "rtc_" + self._hex(self._calls, 32)

    def sip_call_id(self) -> str:
        """A SIP ``Call-ID`` header value, shaped like the docs' example (a UUID)."""
        h = self._hex(self._calls, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"

    def webhook_id(self, created_at: int) -> str:
        """``wh_`` + 32 hex; like the docs' example, the first 8 are the time."""
        return f"wh_{created_at & 0xFFFFFFFF:08x}{self._hex(self._webhooks, 24)}"

    def webhook_event_id(self, created_at: int) -> str:
        """``evt_`` + 32 hex; like the docs' example, the first 8 are the time."""
        return f"evt_{created_at & 0xFFFFFFFF:08x}{self._hex(self._webhooks, 24)}"
