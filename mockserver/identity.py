"""The fake account behind the mock: organization and project, as Faker invents them.

Real responses carry ``openai-organization`` and ``openai-project`` headers
(GROUND_TRUTH §5.4). The values are made up once per server from its seed.
Faker is imported here only, and only when the identity is first made, because
it is slow to import and start-up should stay fast.
"""

from __future__ import annotations

import random
import re
import string

__all__ = ["make_identity"]


def make_identity(seed: int) -> dict[str, str]:
    """Organization slug, ``proj_`` project and ``org-`` organization id for a server seeded with ``seed``."""
    from faker import Faker  # noqa: PLC0415 - deliberately lazy, see the module docstring

    fake = Faker()
    fake.seed_instance(seed)
    company = re.sub(r"[^a-z0-9]+", "-", fake.company().lower()).strip("-")
    rng = random.Random(seed)
    alnum = string.ascii_letters + string.digits
    return {
        "organization": f"{company}-{fake.pystr(min_chars=4, max_chars=4).lower()}",
        "project": "proj_" + "".join(rng.choices(alnum, k=24)),
        "organization_id": "org-" + "".join(rng.choices(alnum, k=24)),
    }
