"""The mutable state of one running mock: clock, ids, secrets, journal, fault rules, scripted replies."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets as _stdlib_secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from .calls import CallRegistry
from .clock import Clock
from .faults import FaultPlan
from .identity import make_identity
from .ids import IdFactory
from .journal import RequestJournal
from .plans import PROCESS_PLANS, PlanCache
from .realtime.recording import EventBudget
from .secrets import SecretStore
from .settings import Settings
from .store import Store, open_store
from .waits import wake
from .webhooks import generated_secret

if TYPE_CHECKING:
    from .fault_specs import FaultRuleSpec
    from .realtime.replies import Scripts
    from .realtime.reply_specs import ReplyRuleSpec

__all__ = ["MAX_CALLS", "OPENAI_VERSION", "MockState"]

OPENAI_VERSION = "2020-10-01"
#: Calls kept for look-up (SIP and WebRTC); when full, the oldest is forgotten.
MAX_CALLS = 10_000


@dataclass
class MockState:
    """Everything a request can change, owned by one application."""

    settings: Settings
    seed: int
    clock: Clock
    ids: IdFactory
    secrets: SecretStore
    journal: RequestJournal
    faults: FaultPlan
    #: Where the shared part lives (secrets, fault rules, journal, clock): memory, or Redis.
    store: Store
    scenario_faults: tuple[FaultRuleSpec, ...] = ()
    #: A scenario's reply rules and transcripts: ``scripts`` starts with them.
    scenario_replies: tuple[ReplyRuleSpec, ...] = ()
    scenario_transcripts: tuple[str, ...] = ()
    plans: PlanCache = field(default_factory=lambda: PROCESS_PLANS)
    #: Realtime calls by id: SIP calls rung through ``POST /__mock/calls``, WebRTC calls set up with SDP.
    calls: CallRegistry = field(default_factory=lambda: CallRegistry(MAX_CALLS))
    #: Webhook deliveries under way in the background (the handle's ``incoming_call``), cancelled on stop.
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    identity: dict[str, str] = field(default_factory=dict)
    #: Headers every response carries, worked out once: the fake account and the seed (a ``CIMultiDict``:
    #: its names are case-folded once here, not on every response).
    static_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    #: Set when the server starts shutting down: injected delays and hangs end at once.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    #: Injected delays in progress (futures their timers resolve), woken at once when the server stops.
    sleepers: set[asyncio.Future[None]] = field(default_factory=set)
    #: Bounds the WebSocket events the journal keeps, across connections.
    event_budget: EventBudget = field(default_factory=EventBudget)
    #: Open Realtime WebSockets, closed (1001) when the server stops.
    connections: set[Any] = field(default_factory=set)
    connections_opened: int = 0
    #: What else ends with the server (the live WebRTC calls), called in order by :meth:`stop`.
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _scripts: Scripts | None = field(default=None, repr=False)
    _chaos: random.Random | None = field(default=None, repr=False)
    _webhook_secret: str | None = field(default=None, repr=False)

    @property
    def webhook_secret(self) -> str:
        """Signs webhooks: ``--webhook-secret``, or one derived from the seed (worked out on first use: ~7 µs a
        server that a test fixture's servers, which mostly send no webhook, would each pay)."""
        if self._webhook_secret is None:
            self._webhook_secret = self.settings.webhook_secret or generated_secret(self.seed)
        return self._webhook_secret

    def chaos(self) -> random.Random:
        """The seeded generator of configured latency and errors, seeded on first use (seeding costs ~5 µs,
        and most servers, a test fixture's among them, never draw from it)."""
        if self._chaos is None:
            self._chaos = random.Random(f"{self.seed}:faults")
        return self._chaos

    @property
    def scripts(self) -> Scripts:
        """Reply rules and transcripts of Realtime sessions (a scenario's included), made on first use: a server
        that only mints never imports the scripting modules (``realtime/replies.py``, ``realtime/script.py``)."""
        if self._scripts is None:
            self._scripts = self.store.scripts(self.scenario_replies, self.scenario_transcripts)
        return self._scripts

    @classmethod
    def create(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        scenario_faults: tuple[FaultRuleSpec, ...] = (),
        scenario_replies: tuple[ReplyRuleSpec, ...] = (),
        scenario_transcripts: tuple[str, ...] = (),
        *,
        worker: int | None = None,
    ) -> MockState:
        # Without --seed a seed is still chosen (and echoed), so any run can be replayed.
        seed = settings.seed if settings.seed is not None else _stdlib_secrets.randbits(32)
        clock = clock or Clock(start=settings.start_time)
        store = open_store(settings.store)
        state = cls(
            settings=settings,
            seed=seed,
            clock=clock,
            ids=IdFactory(seed),
            secrets=SecretStore(clock, settings.max_secrets),
            journal=RequestJournal(settings.journal_size),
            faults=FaultPlan(),
            store=store,
            scenario_faults=scenario_faults,
            scenario_replies=scenario_replies,
            scenario_transcripts=scenario_transcripts,
        )
        state.identity = make_identity(seed)
        state.static_headers = CIMultiDict(
            {
                "openai-version": OPENAI_VERSION,
                "openai-organization": state.identity["organization"],
                "openai-project": state.identity["project"],
                "x-mock-seed": str(seed),
            }
        )
        if worker is not None:
            # Only with --workers N > 1: which process answered (for tests of the pool, and logs).
            state.static_headers["x-mock-worker"] = str(worker)
        state.store.bind(state)
        state._load_scenario_faults()
        return state

    async def open_store(self) -> None:
        """Connect the store; a process other than the store's first draws ids from its own streams."""
        await self.store.open()
        if self.store.process != 1:
            self.ids = IdFactory(self.seed, process=self.store.process)

    def _load_scenario_faults(self) -> None:
        for spec in self.scenario_faults:
            self.faults.add(spec, scope=None, all_scopes=True)

    def next_connection(self) -> int:
        self.connections_opened += 1
        return self.connections_opened

    async def stop(self) -> None:
        """Start shutting down: end injected delays, close open WebSockets (1001, going away), end the calls."""
        self.stopping.set()
        for task in list(self.background):
            task.cancel()
        for waiter in list(self.sleepers):
            wake(waiter)
        for ws in list(self.connections):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")
        for close in self.on_stop:
            await close()

    def reset(self, scope: str | None = None) -> None:
        """Back to a fresh server; with a scope, forget only that scope's journal, faults, secrets, calls, scripts."""
        self.scripts.reset(scope)
        if scope is not None:
            self.journal.clear(scope)
            self.faults.clear(scope)
            self.secrets.clear(scope)
            self.calls.clear(scope)
            return
        self.journal.clear()
        self.faults = FaultPlan()
        self._load_scenario_faults()
        self.secrets.clear()
        self.calls.clear()
        self.clock.reset()
        self.ids.reseed()
        self._chaos = None
