"""Where the state that processes and replicas share lives: this process's memory, or Redis.

The handlers reach secrets, fault rules, reply rules, transcripts, the journal and the clock only
through a :class:`Store`;
nothing else knows which one runs. :class:`~.memory.MemoryStore` (the default) keeps them in the
process; :class:`~.redis.RedisStore` (``--store redis://HOST:PORT/DB``, the ``redis`` extra) keeps
them in one Redis database that every worker and replica pointing at it shares.

What stays in each process whatever the store: open WebSockets and calls, the ``--error-rate`` draws,
the id streams (process 1 keeps the seed's own; others derive theirs from the seed and their number).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import OpenAIError

if TYPE_CHECKING:
    from ..fault_specs import FaultRuleSpec
    from ..faults import Decision, FaultRule, RequestFacts
    from ..journal import JournalEntry
    from ..realtime.replies import Scripts
    from ..realtime.reply_specs import ReplyRuleSpec
    from ..secrets import ClientSecret
    from ..state import MockState

__all__ = ["Store", "StoreUnavailableError", "StoreUnreachableError", "display_url", "open_store"]

#: How long one store operation may take before the request gets a 503 (connect and read, seconds).
STORE_TIMEOUT = 1.0


class StoreUnavailableError(OpenAIError):
    """The shared store did not answer: an OpenAI-shaped 503 the client may retry."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            503,
            "The server is temporarily unable to serve your request: its state store is unreachable. "
            "Please retry your request in a moment.",
            type="server_error",
            code="store_unavailable",
        )
        self.detail = detail


class StoreUnreachableError(RuntimeError):
    """The store could not be reached at start-up; the message is one line naming it."""


class Store(ABC):
    """The shared part of a mock's state, behind one interface (every operation may raise
    :class:`StoreUnavailableError`)."""

    #: ``memory`` or ``redis``, as ``/__mock/health`` reports it.
    kind: str = "memory"
    #: This process's number among those sharing the store (1 for the first, and for memory).
    process: int = 1
    #: Whether :meth:`sync` has anything to do (not in memory: a mint then costs what it did without a store).
    shared: bool = False

    def bind(self, state: MockState) -> None:  # noqa: B027 - optional hook
        """Attach to the state it serves (the memory store keeps that state's own objects)."""

    async def check(self) -> None:  # noqa: B027 - memory is always there
        """:class:`StoreUnreachableError` (one line naming the store) when it does not answer."""

    async def open(self) -> None:  # noqa: B027 - nothing to open in memory
        """Connect, and take this process's number; :class:`StoreUnreachableError` when it cannot."""

    async def close(self) -> None:  # noqa: B027 - nothing to close in memory
        """Let go of connections."""

    async def ping(self) -> bool:
        """Whether the store answers now."""
        return True

    async def sync(self) -> None:  # noqa: B027 - memory is always in sync
        """Bring this process's view (the clock, whether any fault rules exist) up to date: once per request."""

    def scripts(self, replies: tuple[ReplyRuleSpec, ...], transcripts: tuple[str, ...]) -> Scripts:
        """Reply rules and transcripts, a scenario's loaded (in memory: this process's own)."""
        from ..realtime.replies import Scripts  # noqa: PLC0415

        return Scripts(replies, transcripts)

    # --- the clock ------------------------------------------------------------------------------

    @abstractmethod
    async def advance_clock(self, seconds: float) -> None:
        """Move the shared clock forward."""

    @abstractmethod
    async def set_clock(self, epoch: float) -> None:
        """Put the shared clock at ``epoch``."""

    # --- secrets --------------------------------------------------------------------------------

    @abstractmethod
    async def add_secret(self, secret: ClientSecret) -> None:
        """Keep a minted secret (bounded by ``--max-secrets``: the oldest goes first)."""

    @abstractmethod
    async def get_secret(self, value: str) -> ClientSecret | None:
        """The secret minted as ``value`` (on any process), or ``None``."""

    @abstractmethod
    async def revoke_secret(self, value: str) -> ClientSecret | None:
        """Revoke it everywhere; the secret as it now is, or ``None`` when unknown."""

    @abstractmethod
    async def list_secrets(self, scope: str | None) -> list[ClientSecret]:
        """Secrets, oldest first; only ``scope``'s when one is given."""

    @abstractmethod
    def session_opened(self, secret: ClientSecret, opened: dict[str, Any]) -> None:
        """Note on the secret that it opened a session (a shared store writes it in the background)."""

    # --- fault rules ----------------------------------------------------------------------------

    @property
    @abstractmethod
    def has_faults(self) -> bool:
        """Whether any scripted fault rule may apply (as of the last :meth:`sync`)."""

    @abstractmethod
    async def add_faults(self, specs: Sequence[FaultRuleSpec], scope: str | None) -> list[FaultRule]:
        """Add rules in order (all or none: a 400 past the limit)."""

    @abstractmethod
    async def take_fault(self, facts: RequestFacts, cap_ms: float) -> Decision | None:
        """Use up one application of the first matching rule, atomically across processes."""

    @abstractmethod
    async def fault_rules(self, scope: str | None) -> list[FaultRule]:
        """Rules in force, or those that apply in ``scope``."""

    @abstractmethod
    async def remove_fault(self, rule_id: str) -> FaultRule | None:
        """Drop one rule; the rule, or ``None`` when unknown."""

    @abstractmethod
    async def clear_faults(self, scope: str | None) -> None:
        """Drop every rule, or ``scope``'s."""

    # --- the journal ----------------------------------------------------------------------------

    @abstractmethod
    async def record(self, entry: JournalEntry) -> None:
        """Journal an exchange (again, for a WebSocket's entry when it ends); already masked."""

    @abstractmethod
    async def journal(self, scope: str | None) -> list[dict[str, Any]]:
        """Journal entries as JSON, oldest first; only ``scope``'s when one is given."""

    @abstractmethod
    async def clear_journal(self, scope: str | None) -> None:
        """Forget the journal, or ``scope``'s part of it."""

    # --- everything -----------------------------------------------------------------------------

    @abstractmethod
    async def reset(self, scope: str | None) -> None:
        """Forget the shared state (or ``scope``'s): secrets, rules, journal; without a scope also the clock."""


def display_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str) -> Store:
    """The store ``--store`` names: ``memory``, or a Redis URL (``redis://HOST:PORT/DB``)."""
    if url == "memory":
        from .memory import MemoryStore  # noqa: PLC0415

        return MemoryStore()
    try:
        from .redis import RedisStore  # noqa: PLC0415
    except ImportError:
        raise StoreUnreachableError(
            "--store redis://... needs the redis extra: pip install 'openai-realtime-mock[redis]'"
        ) from None
    return RedisStore(url)
