"""The fake account behind the mock: organization and project, made up from the seed.

Real responses carry ``openai-organization`` (``user-`` and 24 lowercase characters for
a personal account) and ``openai-project`` (``proj_`` and 24 characters) headers
(GROUND_TRUTH §5.4); rate-limit messages quote an ``org-`` id. The same seed gives the
same account.
"""

from __future__ import annotations

import random
import string

__all__ = ["make_identity"]

_LOWER = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def make_identity(seed: int) -> dict[str, str]:
    """``organization``, ``project`` and ``organization_id`` for a server seeded with ``seed``."""
    rng = random.Random(f"{seed}:identity")
    return {
        "organization": "user-" + "".join(rng.choices(_LOWER, k=24)),
        "project": "proj_" + "".join(rng.choices(_ALNUM, k=24)),
        "organization_id": "org-" + "".join(rng.choices(_ALNUM, k=24)),
    }
