"""The mutable state of one running mock: clock, id source, minted secrets."""

from __future__ import annotations

import asyncio
import secrets as _stdlib_secrets
from dataclasses import dataclass, field

from .clock import Clock
from .ids import IdFactory
from .secrets import SecretStore
from .settings import Settings

__all__ = ["MockState"]


@dataclass
class MockState:
    """Everything a request can change, owned by one application."""

    settings: Settings
    seed: int
    clock: Clock
    ids: IdFactory
    secrets: SecretStore
    identity: dict[str, str] = field(default_factory=dict)
    identity_future: asyncio.Future[dict[str, str]] | None = None

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> MockState:
        # Without --seed a seed is still chosen (and echoed), so any run can be replayed.
        seed = settings.seed if settings.seed is not None else _stdlib_secrets.randbits(32)
        clock = clock or Clock()
        return cls(
            settings=settings,
            seed=seed,
            clock=clock,
            ids=IdFactory(seed),
            secrets=SecretStore(clock, settings.max_secrets),
        )

    async def identity_headers(self) -> dict[str, str]:
        """``openai-organization`` and ``openai-project``, once the identity is made."""
        if not self.identity:
            if self.identity_future is None:
                from .identity import make_identity  # noqa: PLC0415 - only without the app's start-up

                self.identity = make_identity(self.seed)
            else:
                self.identity = await asyncio.shield(self.identity_future)
        return {
            "openai-organization": self.identity["organization"],
            "openai-project": self.identity["project"],
        }

    def reset(self) -> None:
        """Back to a fresh server: no secrets, the real time, the seed's first draw."""
        self.secrets.clear()
        self.clock.reset()
        self.ids.reseed()
