"""The fake account behind the mock: organization and project, made up from the seed.

Real responses carry ``openai-organization`` (``user-`` and 24 lowercase characters for
a personal account) and ``openai-project`` (``proj_`` and 24 characters) headers
(GROUND_TRUTH §5.4); rate-limit messages quote an ``org-`` id. The same seed gives the
same account.
"""

from __future__ import annotations

import hashlib
import string

__all__ = ["make_identity"]

#: Each byte to one character of the alphabet (a slight bias, harmless for fake ids).
_TO_LOWER = bytes((string.ascii_lowercase + string.digits).encode()[b % 36] for b in range(256))
_TO_ALNUM = bytes((string.ascii_letters + string.digits).encode()[b % 62] for b in range(256))


def make_identity(seed: int) -> dict[str, str]:
    """``organization``, ``project`` and ``organization_id`` for a server seeded with ``seed``.

    Drawn from one hash of the seed (~1 µs): a seeded generator costs ~13 µs to seed and draw from, and a
    test fixture makes a server, so an identity, for every test.
    """
    drawn = hashlib.shake_256(f"{seed}:identity".encode()).digest(72)
    return {
        "organization": "user-" + drawn[:24].translate(_TO_LOWER).decode(),
        "project": "proj_" + drawn[24:48].translate(_TO_ALNUM).decode(),
        "organization_id": "org-" + drawn[48:].translate(_TO_ALNUM).decode(),
    }
