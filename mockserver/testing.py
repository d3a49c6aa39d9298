"""The handle tests use: a mock on 127.0.0.1:<free port>, driven by typed Python calls.

Use it as ``async with MockServer() as server:`` inside an event loop (the server
runs on that loop), or as ``with MockServer() as server:`` from sync code (the
server runs on a background thread with its own loop). Either way the handle's
methods are plain synchronous calls::

    with MockServer(seed=7) as server:
        server.fail_next(2, status=429, retry_after_ms=250)
        client = OpenAI(base_url=server.base_url, api_key="sk-test")
        client.realtime.client_secrets.create()
        server.assert_attempts(3)

The pytest plugin (``mockserver.pytest_plugin``) hands out these handles as fixtures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

from .app import create_app
from .calls import Call
from .errors import OpenAIError
from .failures import describe_near_misses, describe_requests, describe_secrets, shorten
from .fault_specs import FaultRuleSpec
from .faults import FaultRule
from .journal import JournalEntry
from .keys import STATE
from .realtime.replies import ReplyRule
from .realtime.reply_specs import ReplyRuleSpec, TranscriptsSpec
from .schemas.calls import IncomingCallRequest
from .schemas.validation import validate_model
from .serving import MockRunner, listening_site, server_options
from .settings import Settings
from .sip import notify, ring
from .state import MockState
from .webhooks import host_allowed

__all__ = ["CallInfo", "Direction", "MockServer", "MockServerError", "ReplyRule", "SecretInfo"]

#: Which side sent a Realtime event.
Direction = Literal["client", "server"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Stands for a key the body lacks, so ``assert_requested(key=None)`` does not match a body without it.
_ABSENT = object()

#: How long start-up and shutdown may take before the handle gives up.
START_TIMEOUT = 10.0


@functools.cache
def _free_port_settings() -> Settings:
    """The defaults on a free port: what ``MockServer()`` runs with."""
    return Settings.model_validate({"port": 0})


class MockServerError(RuntimeError):
    """The handle was misused (not started, started twice) or the server failed to start."""


@dataclass(frozen=True)
class SecretInfo:
    """A minted secret as the control surface shows it."""

    value: str
    created_at: int
    expires_at: int
    status: Literal["active", "expired", "revoked"]
    scope: str | None
    session: dict[str, Any]
    #: Realtime sessions opened with this key: ``session_id``, ``transport`` (websocket / webrtc), ``opened_at``.
    sessions: tuple[dict[str, Any], ...] = ()
    #: Which endpoint minted it: ``realtime`` (realtime and transcription sessions) or ``translation``.
    kind: Literal["realtime", "translation"] = "realtime"


@dataclass(frozen=True)
class CallInfo:
    """A call (SIP or WebRTC) as the control surface shows it."""

    id: str
    transport: Literal["sip", "webrtc"]
    status: Literal["ringing", "accepted", "rejected", "referred", "hung_up", "ended"]
    created_at: int
    updated_at: int
    scope: str | None
    #: The ``ek_`` key that opened a WebRTC call.
    secret: str | None
    sip_headers: tuple[dict[str, str], ...]
    #: The session serving the call (set by accept, or at WebRTC set-up), shaped as a mint's.
    session: dict[str, Any] | None
    reject_status_code: int | None
    refer_to: str | None
    #: The ``realtime.call.incoming`` delivery: ``url``, ``webhook_id``, ``event_id``, ``status_code``,
    #: ``delivered``, ``error`` (``pending: true`` while it is under way).
    webhook: dict[str, Any] | None


class MockServer:
    """A running mock and typed access to its journal, secrets, faults, scripted replies and clock.

    ``settings`` (or keyword overrides such as ``seed=7``, ``latency_ms=50``)
    configure it; the port is always chosen free on 127.0.0.1 unless given.
    ``scope`` partitions what this handle sees and scripts, as ``X-Mock-Scope`` does.
    """

    def __init__(self, settings: Settings | None = None, *, scope: str | None = None, **overrides: Any) -> None:
        if settings is None:
            # A free port unless one is given: one validation, none for a plain handle (a fixture makes a handle
            # per test; ``Settings`` is frozen, so every plain handle can share one).
            self.settings = Settings.model_validate({"port": 0, **overrides}) if overrides else _free_port_settings()
        else:
            # Only what was set explicitly is carried over, so a scenario can still fill the rest.
            explicit = settings.model_dump(include=settings.model_fields_set)
            self.settings = Settings.model_validate({**explicit, **overrides}) if overrides else settings
        self.scope = scope
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._is_view = False

    # --- life cycle --------------------------------------------------------------------------------

    async def start(self) -> MockServer:
        """Start on the running event loop."""
        if self._runner is not None:
            raise MockServerError("the mock server is already running")
        self._loop = asyncio.get_running_loop()
        app = create_app(self.settings)
        runner = MockRunner(app, access_log=None, shutdown_timeout=2.0, handler_cancellation=True, **server_options())
        await runner.setup()
        try:
            await listening_site(runner, self.settings.host, self.settings.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise MockServerError(f"cannot listen on {self.settings.host}:{self.settings.port}: {exc}") from exc
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop the server started by :meth:`start`."""
        if self._runner is not None and not self._is_view:
            runner, self._runner = self._runner, None
            await runner.app[STATE].stop()
            await runner.cleanup()

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def start_in_thread(self) -> MockServer:
        """Start on a background thread with its own loop (for sync code and sync clients)."""
        if self._runner is not None:
            raise MockServerError("the mock server is already running")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="mockserver", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=START_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise MockServerError(f"the mock server did not start within {START_TIMEOUT:g} s") from None
        return self

    def stop_thread(self) -> None:
        """Stop the server started by :meth:`start_in_thread` (bounded by ``START_TIMEOUT``)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or self._is_view:
            return
        self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)

    def __enter__(self) -> MockServer:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_thread()

    def scoped(self, scope: str) -> MockServer:
        """A handle on the same running server that sees and scripts only ``scope``.

        Send ``handle.headers`` (``X-Mock-Scope``) with the requests meant for it.
        The view does not own the server: stopping it does nothing.
        """
        self._require()
        view = copy.copy(self)
        view.scope = scope
        view._is_view = True
        return view

    # --- where it is -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        self._require()
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an SDK's ``base_url`` should be."""
        return f"{self.url}/v1"

    @property
    def seed(self) -> int:
        return self._call(lambda state: state.seed)

    @property
    def headers(self) -> dict[str, str]:
        """Headers to send so requests land in this handle's scope."""
        return {"X-Mock-Scope": self.scope} if self.scope else {}

    # --- journal ----------------------------------------------------------------------------------

    def requests(self, *, path: str | None = None, method: str | None = None) -> list[JournalEntry]:
        """Requests the OpenAI surface received (this handle's scope), oldest first."""
        entries = self._call(lambda state: [e.snapshot() for e in state.journal.entries(self.scope)])
        return [e for e in entries if (path is None or e.path == path) and (method is None or e.method == method)]

    def clear_requests(self) -> None:
        self._call(lambda state: state.journal.clear(self.scope))

    def events(self, direction: Direction | None = None, type: str | None = None) -> list[dict[str, Any]]:
        """Events of the Realtime connections in this handle's scope, oldest connection first, in order.

        Each event is its payload as sent (audio as a byte count, keys masked) plus ``direction``
        (``"client"`` or ``"server"``) and ``session_id``. Open connections are included.
        """
        found: list[dict[str, Any]] = []
        # A WebSocket's GET, or a WebRTC call's POST (its data channel's events).
        for entry in self.requests():
            session_id = entry.extra.get("session_id")
            for event in entry.extra.get("events") or []:
                if (direction is None or event.get("direction") == direction) and (
                    type is None or event.get("type") == type
                ):
                    found.append({**event, "session_id": session_id})
        return found

    def assert_event(self, direction: Direction, type: str, **fields: Any) -> dict[str, Any]:
        """Some ``direction`` event of ``type`` carried these fields (a dict value matches as a subset).

        Returns the first such event; the failure lists the events that were seen.
        """
        events = self.events()
        for event in events:
            if event.get("direction") == direction and event.get("type") == type and _contains(event, fields):
                return event
        wanted = f"{direction} event {type!r}" + (f" with {_short(fields)}" if fields else "")
        same_type = [e for e in events if e.get("type") == type and e.get("direction") == direction]
        raise AssertionError(f"no {wanted}; saw {_describe_events(same_type or events)}")

    # --- secrets ----------------------------------------------------------------------------------

    def secrets(self) -> list[SecretInfo]:
        """Minted secrets (this handle's scope), oldest first."""
        return self._call(lambda state: [_secret_info(s, state) for s in state.secrets.list(self.scope)])

    def secret(self, value: str) -> SecretInfo:
        """One minted secret; ``KeyError`` if the mock never minted it (or has evicted it)."""

        def find(state: MockState) -> SecretInfo:
            secret = state.secrets.get(value)
            if secret is None:
                raise KeyError(value)
            return _secret_info(secret, state)

        return self._call(find)

    def revoke(self, value: str) -> SecretInfo:
        """Revoke a minted secret, as ``DELETE /__mock/secrets/{value}`` does."""

        def revoke(state: MockState) -> SecretInfo:
            secret = state.secrets.get(value)
            if secret is None:
                raise KeyError(value)
            secret.revoked = True
            return _secret_info(secret, state)

        return self._call(revoke)

    # --- calls ------------------------------------------------------------------------------------

    @property
    def webhook_secret(self) -> str:
        """The secret webhooks are signed with (``--webhook-secret``, or the one derived from the seed)."""
        return self._call(lambda state: state.webhook_secret)

    def calls(self) -> list[CallInfo]:
        """Calls, SIP and WebRTC (this handle's scope), oldest first."""
        return self._call(lambda state: [_call_info(c) for c in state.calls.list(self.scope)])

    def call(self, call_id: str) -> CallInfo:
        """One call; ``KeyError`` if there is none with that id."""

        def find(state: MockState) -> CallInfo:
            call = state.calls.get(call_id)
            if call is None:
                raise KeyError(call_id)
            return _call_info(call)

        return self._call(find)

    def incoming_call(
        self,
        webhook_url: str | None = None,
        *,
        from_: str | None = None,
        to: str | None = None,
        sip_headers: Iterable[Mapping[str, str]] = (),
        sip_media_security: Literal["rtp", "srtp"] | None = None,
    ) -> CallInfo:
        """Ring a SIP call, as ``POST /__mock/calls`` does; ``ValueError`` with OpenAI's message for bad input.

        The ``realtime.call.incoming`` webhook goes to ``webhook_url`` in the background (this
        call does not wait for it): :meth:`call` reports the delivery once it is over.
        """
        body: dict[str, Any] = {"webhook_url": webhook_url, "from": from_, "to": to}
        body["sip_headers"] = [dict(header) for header in sip_headers]
        body["sip_media_security"] = sip_media_security
        try:
            spec = validate_model(IncomingCallRequest, body)
        except OpenAIError as error:
            raise ValueError(error.message) from None

        def start(state: MockState) -> CallInfo:
            if webhook_url is not None and not host_allowed(webhook_url, state.settings.webhook_hosts):
                raise ValueError(f"webhook_url {webhook_url!r} is not on this machine (see --webhook-host)")
            call = ring(state, spec, self.scope)
            if webhook_url is not None:
                task = asyncio.get_running_loop().create_task(notify(state, call, webhook_url, sip_media_security))
                state.background.add(task)
                task.add_done_callback(state.background.discard)
                call.webhook = {"url": webhook_url, "delivered": False, "pending": True}
            return _call_info(call)

        return self._call(start)  # on the server's loop, where the delivery task belongs

    # --- faults -----------------------------------------------------------------------------------

    def add_fault(self, **rule: Any) -> FaultRule:
        """Script a fault rule (the keys of ``POST /__mock/faults``: status, error, times, ...).

        Raises ``ValueError`` with OpenAI's message for an invalid rule.
        """
        try:
            spec = validate_model(FaultRuleSpec, rule)
        except OpenAIError as error:
            raise ValueError(error.message) from None
        return self._call(lambda state: copy.copy(state.faults.add(spec, self.scope)))

    def fail_next(self, times: int = 1, status: int | None = None, **rule: Any) -> FaultRule:
        """The next ``times`` requests fail with ``status`` (or ``error=PRESET``), then it works."""
        if status is not None:
            rule["status"] = status
        return self.add_fault(times=times, **rule)

    def faults(self) -> list[FaultRule]:
        """Scripted rules still in force (this handle's scope)."""
        return self._call(lambda state: [copy.copy(r) for r in state.faults.rules(self.scope)])

    def clear_faults(self) -> None:
        self._call(lambda state: state.faults.clear(self.scope))

    # --- scripted conversations ----------------------------------------------------------------------

    def add_reply(
        self,
        text: str | Mapping[str, Any] | None = None,
        *,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        match: Mapping[str, Any] | None = None,
        times: int | None = 1,
    ) -> ReplyRule:
        """Script what the assistant says (``text``) and/or calls (``tool_calls``) when ``match`` holds.

        The keys are those of ``POST /__mock/replies``: ``match`` takes ``user_text`` (a case-insensitive
        substring of the latest user message) and ``tool_output`` (the function whose output is the latest
        item); each of ``tool_calls`` is ``{"name": ..., "arguments": {...} or "<JSON>"}``; ``times=None``
        serves every matching response. The whole rule may also be given as one mapping (a request body).
        Raises ``ValueError`` with OpenAI's message for an invalid rule.
        """
        if isinstance(text, Mapping):
            rule: dict[str, Any] = dict(text)
        else:
            rule = {"times": times}
            for key, value in (("match", match), ("text", text), ("tool_calls", tool_calls)):
                if value is not None:
                    rule[key] = value
        spec = _validated(ReplyRuleSpec, _plain(rule))
        return self._call(lambda state: copy.copy(state.scripts.replies.add(spec, self.scope)))

    def add_replies(self, rules: Iterable[Mapping[str, Any]]) -> list[ReplyRule]:
        """Several rules at once, in order (each as the body of ``POST /__mock/replies``); all or none."""
        specs = [_validated(ReplyRuleSpec, _plain(rule), f"[{index}]") for index, rule in enumerate(rules)]

        def add(state: MockState) -> list[ReplyRule]:
            state.scripts.replies.make_room(len(specs))
            return [copy.copy(state.scripts.replies.add(spec, self.scope)) for spec in specs]

        return self._call(add)

    def replies(self) -> list[ReplyRule]:
        """Reply rules still in force (this handle's scope), in the order they are tried."""
        return self._call(lambda state: [copy.copy(rule) for rule in state.scripts.replies.rules(self.scope)])

    def clear_replies(self) -> None:
        self._call(lambda state: state.scripts.replies.clear(self.scope))

    def add_transcripts(self, *transcripts: str | Sequence[str]) -> list[str]:
        """What the user "says" in the next committed audio items, in order; returns what is now waiting.

        ``add_transcripts("Hi.", "Bye.")`` and ``add_transcripts(["Hi.", "Bye."])`` are the same.
        """
        texts: list[Any] = []
        for entry in transcripts:
            texts.extend(entry if isinstance(entry, list | tuple) else [entry])
        spec = _validated(TranscriptsSpec, {"transcripts": texts})

        def add(state: MockState) -> list[str]:
            state.scripts.transcripts.add(spec.transcripts, self.scope)
            return [entry.text for entry in state.scripts.transcripts.pending(self.scope)]

        return self._call(add)

    def transcripts(self) -> list[str]:
        """Transcripts waiting for a committed audio item (this handle's scope), in order."""
        return self._call(lambda state: [entry.text for entry in state.scripts.transcripts.pending(self.scope)])

    def clear_transcripts(self) -> None:
        self._call(lambda state: state.scripts.transcripts.clear(self.scope))

    # --- clock and reset --------------------------------------------------------------------------

    def now(self) -> float:
        """The server's clock (epoch seconds)."""
        return self._call(lambda state: state.clock.now())

    def advance_clock(self, seconds: float) -> float:
        """Move the server's clock; expiry and new secrets follow it. Returns the new time."""
        return self._call(lambda state: state.clock.advance(seconds))

    def set_clock(self, epoch: float) -> float:
        """Pin the server's clock to ``epoch`` (it keeps running from there)."""
        return self._call(lambda state: state.clock.set(epoch))

    def reset(self) -> None:
        """Back to a fresh server; with a scope, forget only that scope's journal, faults, secrets and scripts."""
        self._call(lambda state: state.reset(self.scope))

    # --- assertions with useful failure messages ---------------------------------------------------

    def assert_attempts(self, expected: int, *, path: str | None = None) -> list[JournalEntry]:
        """Exactly ``expected`` requests reached the OpenAI surface (retries included)."""
        entries = self.requests(path=path)
        if len(entries) != expected:
            noun = "attempt" if expected == 1 else "attempts"
            seen = describe_requests(entries) or " none"
            raise AssertionError(f"expected {expected} {noun}, saw {len(entries)}:{seen}")
        return entries

    def assert_statuses(self, expected: Iterable[int | None], *, path: str | None = None) -> None:
        """The OpenAI surface answered these statuses, in order (``None``: connection dropped)."""
        wanted = list(expected)
        entries = self.requests(path=path)
        seen = [e.status for e in entries]
        if seen != wanted:
            raise AssertionError(f"expected statuses {wanted}, saw {seen}:{describe_requests(entries) or ' none'}")

    def assert_minted(self, expected: int) -> list[SecretInfo]:
        """Exactly ``expected`` secrets were minted."""
        secrets = self.secrets()
        if len(secrets) != expected:
            raise AssertionError(
                f"expected {expected} minted secrets, saw {len(secrets)}:{describe_secrets(secrets) or ' none'}"
            )
        return secrets

    def assert_requested(self, *, path: str | None = None, method: str | None = "POST", **body: Any) -> JournalEntry:
        """Some request matched ``path``/``method`` and carried these top-level body keys.

        On failure the message lists the requests it compared, each with its body and, under it,
        every expected key the body got wrong (expected, then received); all bounded in length.
        """
        entries = self.requests(method=method)
        candidates = [e for e in entries if path is None or e.path == path]
        for entry in candidates:
            if isinstance(entry.body, Mapping) and all(entry.body.get(k, _ABSENT) == v for k, v in body.items()):
                return entry
        wanted = f"{method or '*'} {path or '*'}" + (f" with {shorten(body)}" if body else "")
        if candidates:
            raise AssertionError(
                f"no request matched {wanted}; compared {len(candidates)}:{describe_near_misses(candidates, body)}"
            )
        seen = f"saw {len(entries)} other requests:{describe_requests(entries)}" if entries else "saw no requests"
        raise AssertionError(f"no request matched {wanted}; {seen}")

    # --- plumbing ----------------------------------------------------------------------------------

    def _require(self) -> None:
        if self._runner is None:
            raise MockServerError("the mock server is not running (use `with` or `async with`)")

    def _call(self, operation: Callable[[MockState], T]) -> T:
        """Run ``operation`` on the server's state, on the server's loop when that is another thread."""
        runner, loop = self._runner, self._loop
        if runner is None or loop is None:
            raise MockServerError("the mock server is not running (use `with` or `async with`)")
        state = runner.app[STATE]
        if self._thread is None or threading.current_thread() is self._thread:
            return operation(state)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(operation(state))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=START_TIMEOUT)


def _validated(model: type[M], data: Any, prefix: str = "") -> M:
    """``data`` as ``model``, or ``ValueError`` with the message the control surface would answer."""
    try:
        return validate_model(model, data, prefix=prefix)
    except OpenAIError as error:
        raise ValueError(error.message) from None


def _plain(value: Any) -> Any:
    """Mappings and sequences as the dicts and lists of a JSON body (tuples included), strings left alone."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _secret_info(secret: Any, state: MockState) -> SecretInfo:
    return SecretInfo(
        value=secret.value,
        created_at=secret.created_at,
        expires_at=secret.expires_at,
        status=secret.status(state.clock.now()),
        scope=secret.scope,
        session=copy.deepcopy(secret.session),
        sessions=tuple(copy.deepcopy(secret.sessions_opened)),
        kind=secret.kind,
    )


def _call_info(call: Call) -> CallInfo:
    return CallInfo(
        id=call.id,
        transport=call.transport,
        status=call.status,
        created_at=call.created_at,
        updated_at=call.updated_at,
        scope=call.scope,
        secret=call.secret,
        sip_headers=tuple(copy.deepcopy(call.sip_headers)),
        session=copy.deepcopy(call.session),
        reject_status_code=call.reject_status_code,
        refer_to=call.refer_to,
        webhook=copy.deepcopy(call.webhook),
    )


def _contains(actual: Any, expected: Any) -> bool:
    """``expected`` holds in ``actual``: equal values, or for a dict every expected key matching in turn."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _contains(actual[key], value) for key, value in expected.items()
        )
    return bool(actual == expected)


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Failure messages list at most this many events (the latest).
_EVENTS_SHOWN = 40


def _describe_events(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no events"
    shown = events[-_EVENTS_SHOWN:]
    more = f"{len(events) - len(shown)} earlier events, then " if len(events) > len(shown) else ""
    lines = [
        f"{e.get('direction')} {e.get('type')} "
        + _short({k: v for k, v in e.items() if k not in ("direction", "type", "event_id", "session_id")}, 200)
        for e in shown
    ]
    return more + "\n  " + "\n  ".join(lines)
