"""The embedded store (the default): the state's own objects, in this process.

Every operation completes without suspending, so a mint costs what it did before the store
existed (one awaited coroutine per operation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..secrets import SESSIONS_PER_SECRET
from . import Store

if TYPE_CHECKING:
    from ..fault_specs import FaultRuleSpec
    from ..faults import Decision, FaultRule, RequestFacts
    from ..journal import JournalEntry
    from ..secrets import ClientSecret
    from ..state import MockState

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Secrets, fault rules, the journal and the clock of one process (:class:`~..state.MockState`'s)."""

    kind = "memory"

    def bind(self, state: MockState) -> None:
        self.state = state

    async def advance_clock(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    async def set_clock(self, epoch: float) -> None:
        self.state.clock.set(epoch)

    async def add_secret(self, secret: ClientSecret) -> None:
        self.state.secrets.add(secret)

    async def get_secret(self, value: str) -> ClientSecret | None:
        return self.state.secrets.get(value)

    async def revoke_secret(self, value: str) -> ClientSecret | None:
        secret = self.state.secrets.get(value)
        if secret is not None:
            secret.revoked = True
        return secret

    async def list_secrets(self, scope: str | None) -> list[ClientSecret]:
        return self.state.secrets.list(scope)

    def session_opened(self, secret: ClientSecret, opened: dict[str, Any]) -> None:
        secret.sessions_opened = (*secret.sessions_opened, opened)[-SESSIONS_PER_SECRET:]

    @property
    def has_faults(self) -> bool:
        return bool(self.state.faults)

    async def add_faults(self, specs: Sequence[FaultRuleSpec], scope: str | None) -> list[FaultRule]:
        faults = self.state.faults
        faults.make_room(len(specs))
        return [faults.add(spec, scope) for spec in specs]

    async def take_fault(self, facts: RequestFacts, cap_ms: float) -> Decision | None:
        return self.state.faults.take(facts, cap_ms)

    async def fault_rules(self, scope: str | None) -> list[FaultRule]:
        return self.state.faults.rules(scope)

    async def remove_fault(self, rule_id: str) -> FaultRule | None:
        return self.state.faults.remove(rule_id)

    async def clear_faults(self, scope: str | None) -> None:
        self.state.faults.clear(scope)

    async def record(self, entry: JournalEntry) -> None:
        self.state.journal.record(entry)

    async def journal(self, scope: str | None) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self.state.journal.entries(scope)]

    async def clear_journal(self, scope: str | None) -> None:
        self.state.journal.clear(scope)

    async def reset(self, scope: str | None) -> None:
        """The state's own reset does it all (the objects are the state's)."""
