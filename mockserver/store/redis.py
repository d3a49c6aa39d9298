"""The shared store: one Redis database that every worker and replica pointing at it shares.

Layout (every key under ``mockserver:``):

- ``processes``: a counter; each process takes its number from it (``INCR``) when it starts.
- ``clock``: the clock's offset in seconds (replicas should share ``--start-time`` and ``--seed``).
- ``secret:<value>``: a hash (``data``: the secret as JSON, ``revoked``), and ``secret:<value>:sessions``, a
  list of the sessions it opened; both expire (``PEXPIREAT``) an hour after the secret does.
  ``secrets``: a sorted set of values in mint order, bounded by ``--max-secrets`` (the oldest goes first).
- ``faults``, ``faults:left``, ``faults:applied``: hashes by rule id (the rule as JSON, uses left (-1: until
  cleared), uses so far); ``faults:next``, the id counter. A use is taken by a Lua script, so a
  ``times: 2`` rule serves exactly two requests across all processes.
- ``journal``: a list of entry ids (bounded by ``--journal-size``) and ``journal:entries``, a hash of the
  entries as JSON, masked before they are written (no key reaches Redis).

A mint takes three round trips: the per-request sync (one pipeline: the clock and the number of fault
rules), storing the secret (one script), journaling the exchange (one script).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..faults import MAX_FAULT_RULES, Decision, FaultRule, RequestFacts, decision_of
from ..realtime.replies import Scripts
from ..secrets import SESSIONS_PER_SECRET, ClientSecret
from . import STORE_TIMEOUT, Store, StoreUnavailableError, StoreUnreachableError, display_url

if TYPE_CHECKING:
    from ..fault_specs import FaultRuleSpec
    from ..journal import JournalEntry
    from ..realtime.reply_specs import ReplyRuleSpec
    from ..state import MockState

__all__ = ["PREFIX", "TAKE_USE", "RedisStore"]

PREFIX = "mockserver:"
#: An expired secret stays in Redis this long (its status then reads ``expired``, as in memory).
EXPIRED_KEPT_SECONDS = 3600

_ADD_SECRET = """
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], 'data', ARGV[2], 'revoked', '0')
redis.call('PEXPIREAT', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[1], over)
  for i = 1, #old, 2 do
    redis.call('DEL', ARGV[5] .. old[i], ARGV[5] .. old[i] .. ':sessions')
  end
end
return seq
"""

_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
"""

_SESSION_OPENED = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

_ADD_FAULTS = """
local count = (#ARGV - 1) / 2
if redis.call('HLEN', KEYS[1]) + count > tonumber(ARGV[1]) then return -1 end
local last = redis.call('INCRBY', KEYS[4], count)
local first = last - count + 1
for i = 1, count do
  local id = 'fault_' .. (first + i - 1)
  redis.call('HSET', KEYS[1], id, ARGV[2 * i])
  redis.call('HSET', KEYS[2], id, ARGV[2 * i + 1])
  redis.call('HSET', KEYS[3], id, 0)
end
return first
"""

#: One use of a rule (fault or reply) whose ``times`` holds across processes: KEYS rules, left, applied; ARGV
#: the id. ``{applied, left}`` (left -1: unlimited), or -2 when the rule is gone (another process used it up).
TAKE_USE = """
local left = redis.call('HGET', KEYS[2], ARGV[1])
if not left then return -2 end
left = tonumber(left)
local applied = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
if left < 0 then return {applied, -1} end
if left <= 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
end
return {applied, left - 1}
"""

_REMOVE_FAULTS = """
local removed = {}
for i = 1, #ARGV do
  local rule = redis.call('HGET', KEYS[1], ARGV[i])
  if rule then
    local left = redis.call('HGET', KEYS[2], ARGV[i])
    local applied = redis.call('HGET', KEYS[3], ARGV[i])
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
    table.insert(removed, {ARGV[i], rule, left, applied})
  end
end
return removed
"""

_RECORD = """
if redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  while redis.call('LLEN', KEYS[1]) > tonumber(ARGV[3]) do
    redis.call('HDEL', KEYS[2], redis.call('LPOP', KEYS[1]))
  end
end
return 1
"""

_FORGET_ENTRIES = """
for i = 1, #ARGV do
  redis.call('LREM', KEYS[1], 1, ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return #ARGV
"""


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class RedisStore(Store):
    """The shared state in Redis (redis-py's asyncio client); every operation is bounded by
    :data:`~mockserver.store.STORE_TIMEOUT` and fails as :class:`StoreUnavailableError`."""

    kind = "redis"
    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=STORE_TIMEOUT,
            socket_connect_timeout=STORE_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            health_check_interval=0,
        )
        self._remote_faults = 0
        register = self._redis.register_script
        self._add_secret = register(_ADD_SECRET)
        self._revoke = register(_REVOKE)
        self._session_opened = register(_SESSION_OPENED)
        self._add_faults = register(_ADD_FAULTS)
        self._take_fault = register(TAKE_USE)
        self._remove_faults = register(_REMOVE_FAULTS)
        self._record = register(_RECORD)
        self._forget_entries = register(_FORGET_ENTRIES)

    def bind(self, state: MockState) -> None:
        self.state = state

    def scripts(self, replies: tuple[ReplyRuleSpec, ...], transcripts: tuple[str, ...]) -> Scripts:
        # The engine asks for its script synchronously: these use a synchronous client (redis_scripts.py).
        from .redis_scripts import RedisReplyBook, RedisTranscriptQueue, sync_client  # noqa: PLC0415

        client = sync_client(self.url)
        book, queue = RedisReplyBook(client, PREFIX), RedisTranscriptQueue(client, PREFIX)
        return Scripts(replies, transcripts, replies=book, transcripts=queue)

    @contextlib.asynccontextmanager
    async def _reach(self) -> AsyncIterator[None]:
        """Bounded in time; whatever goes wrong on the way to Redis is a 503."""
        try:
            async with asyncio.timeout(2 * STORE_TIMEOUT):
                yield
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from None

    async def check(self) -> None:
        # redis-py types its commands for both clients (sync and asyncio): this one's is awaitable.
        await self._at_start(cast("Awaitable[bool]", self._redis.ping()))

    async def open(self) -> None:
        self.process = int(await self._at_start(self._redis.incr(PREFIX + "processes")))

    async def _at_start(self, command: Awaitable[Any]) -> Any:
        try:
            async with self._reach():
                return await command
        except StoreUnavailableError as exc:
            raise StoreUnreachableError(f"cannot reach the store at {display_url(self.url)} ({exc.detail})") from None

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            async with self._reach(), self._redis.pipeline(transaction=False) as pipe:
                pipe.ping()
                await pipe.execute()
        except StoreUnavailableError:
            return False
        return True

    async def sync(self) -> None:
        async with self._reach(), self._redis.pipeline(transaction=False) as pipe:
            pipe.get(PREFIX + "clock")
            pipe.hlen(PREFIX + "faults")
            offset, faults = await pipe.execute()
        self.state.clock.offset = float(offset) if offset is not None else 0.0
        self._remote_faults = int(faults)

    # --- the clock ------------------------------------------------------------------------------

    async def advance_clock(self, seconds: float) -> None:
        async with self._reach():
            offset = await self._redis.incrbyfloat(PREFIX + "clock", seconds)
        self.state.clock.offset = float(offset)

    async def set_clock(self, epoch: float) -> None:
        clock = self.state.clock
        clock.set(epoch)
        async with self._reach():
            await self._redis.set(PREFIX + "clock", repr(clock.offset))

    # --- secrets --------------------------------------------------------------------------------

    async def add_secret(self, secret: ClientSecret) -> None:
        data = {
            f.name: getattr(secret, f.name)
            for f in dataclasses.fields(secret)
            if f.name not in ("revoked", "sessions_opened")
        }
        # Redis expires it in real time: as far from now as the secret's expiry is from the mock's clock.
        left = max(secret.expires_at - self.state.clock.now(), 0) + EXPIRED_KEPT_SECONDS
        expire_at_ms = int((time.time() + left) * 1000)
        limit = self.state.settings.max_secrets
        async with self._reach():
            await self._add_secret(
                keys=[PREFIX + "secrets", PREFIX + "secret:" + secret.value, PREFIX + "secrets:next"],
                args=[secret.value, _dump(data), expire_at_ms, limit, PREFIX + "secret:"],
            )

    async def _secrets(self, values: Sequence[str]) -> list[ClientSecret | None]:
        async with self._reach(), self._redis.pipeline(transaction=False) as pipe:
            for value in values:
                pipe.hmget(PREFIX + "secret:" + value, ["data", "revoked"])
                pipe.lrange(PREFIX + "secret:" + value + ":sessions", 0, -1)
            replies = await pipe.execute()
        found: list[ClientSecret | None] = []
        for index in range(0, len(replies), 2):
            (data, revoked), sessions = replies[index], replies[index + 1]
            if data is None:
                found.append(None)
                continue
            opened = [json.loads(item) for item in sessions]
            found.append(ClientSecret(**json.loads(data), revoked=revoked == "1", sessions_opened=tuple(opened)))
        return found

    async def get_secret(self, value: str) -> ClientSecret | None:
        return (await self._secrets([value]))[0]

    async def revoke_secret(self, value: str) -> ClientSecret | None:
        async with self._reach():
            await self._revoke(keys=[PREFIX + "secret:" + value])
        return await self.get_secret(value)

    async def list_secrets(self, scope: str | None) -> list[ClientSecret]:
        async with self._reach():
            values = await self._redis.zrange(PREFIX + "secrets", 0, -1)
        secrets = await self._secrets(values)
        return [s for s in secrets if s is not None and (scope is None or s.scope == scope)]

    def session_opened(self, secret: ClientSecret, opened: dict[str, Any]) -> None:
        secret.sessions_opened = (*secret.sessions_opened, opened)[-SESSIONS_PER_SECRET:]
        task = asyncio.get_running_loop().create_task(self._note_session(secret.value, opened))
        self.state.background.add(task)
        task.add_done_callback(self.state.background.discard)

    async def _note_session(self, value: str, opened: dict[str, Any]) -> None:
        # In the background: a store lost now costs the note, never the session.
        with contextlib.suppress(StoreUnavailableError):
            async with self._reach():
                key = PREFIX + "secret:" + value
                await self._session_opened(keys=[key, key + ":sessions"], args=[_dump(opened), SESSIONS_PER_SECRET])

    # --- fault rules ----------------------------------------------------------------------------

    @property
    def has_faults(self) -> bool:
        # A scenario's rules stay in each process (every replica loads the scenario).
        return self._remote_faults > 0 or bool(self.state.faults)

    async def _remote_rules(self) -> list[FaultRule]:
        async with self._reach(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(PREFIX + "faults")
            pipe.hgetall(PREFIX + "faults:left")
            pipe.hgetall(PREFIX + "faults:applied")
            rules, left, applied = await pipe.execute()
        found = []
        for rule_id, data in rules.items():
            remaining = int(left.get(rule_id, -1))
            rule = FaultRule(
                id=rule_id,
                **json.loads(data),
                remaining=None if remaining < 0 else remaining,
                applied=int(applied.get(rule_id, 0)),
            )
            found.append(rule)
        found.sort(key=lambda rule: int(rule.id.rpartition("_")[2]))
        return found

    async def add_faults(self, specs: Sequence[FaultRuleSpec], scope: str | None) -> list[FaultRule]:
        rules = [FaultRule.from_spec(spec, "", scope) for spec in specs]
        args: list[Any] = [MAX_FAULT_RULES]
        for rule in rules:
            data = dataclasses.asdict(rule)
            for name in ("id", "remaining", "applied"):
                del data[name]
            args += [_dump(data), -1 if rule.remaining is None else rule.remaining]
        keys = [PREFIX + "faults", PREFIX + "faults:left", PREFIX + "faults:applied", PREFIX + "faults:next"]
        async with self._reach():
            first = int(await self._add_faults(keys=keys, args=args))
        if first < 0:
            self.state.faults.make_room(MAX_FAULT_RULES + 1)  # the 400 the memory store answers
        for offset, rule in enumerate(rules):
            rule.id = f"fault_{first + offset}"
        self._remote_faults += len(rules)
        return rules

    async def take_fault(self, facts: RequestFacts, cap_ms: float) -> Decision | None:
        local = self.state.faults.take(facts, cap_ms) if self.state.faults else None
        if local is not None or not self._remote_faults:
            return local
        keys = [PREFIX + "faults", PREFIX + "faults:left", PREFIX + "faults:applied"]
        for rule in await self._remote_rules():
            if not rule.matches(facts):
                continue
            async with self._reach():
                taken = await self._take_fault(keys=keys, args=[rule.id])
            if taken != -2:  # else another process used it up first: the next matching rule
                rule.applied = int(taken[0])
                return decision_of(rule, cap_ms)
        return None

    async def fault_rules(self, scope: str | None) -> list[FaultRule]:
        remote = [rule for rule in await self._remote_rules() if scope is None or rule.in_scope(scope)]
        return self.state.faults.rules(scope) + remote

    async def _remove(self, ids: Sequence[str]) -> list[FaultRule]:
        if not ids:
            return []
        keys = [PREFIX + "faults", PREFIX + "faults:left", PREFIX + "faults:applied"]
        async with self._reach():
            removed = await self._remove_faults(keys=keys, args=list(ids))
        rules = []
        for rule_id, data, left, applied in removed:
            remaining = int(left or -1)
            rules.append(
                FaultRule(
                    id=rule_id,
                    **json.loads(data),
                    remaining=None if remaining < 0 else remaining,
                    applied=int(applied or 0),
                )
            )
        return rules

    async def remove_fault(self, rule_id: str) -> FaultRule | None:
        removed = await self._remove([rule_id])
        return removed[0] if removed else self.state.faults.remove(rule_id)

    async def clear_faults(self, scope: str | None) -> None:
        if scope is None:
            async with self._reach():
                await self._redis.delete(PREFIX + "faults", PREFIX + "faults:left", PREFIX + "faults:applied")
        else:
            rules = await self._remote_rules()
            await self._remove([rule.id for rule in rules if rule.scope == scope and not rule.all_scopes])
        self.state.faults.clear(scope)

    # --- the journal ----------------------------------------------------------------------------

    async def record(self, entry: JournalEntry) -> None:
        entry.journaled = True
        async with self._reach():
            await self._record(
                keys=[PREFIX + "journal", PREFIX + "journal:entries"],
                args=[entry.id, _dump(entry.to_json()), self.state.journal.limit],
            )

    async def journal(self, scope: str | None) -> list[dict[str, Any]]:
        async with self._reach(), self._redis.pipeline(transaction=False) as pipe:
            pipe.lrange(PREFIX + "journal", 0, -1)
            (ids,) = await pipe.execute()
            texts: list[str | None] = []
            if ids:
                pipe.hmget(PREFIX + "journal:entries", ids)
                (texts,) = await pipe.execute()
        entries = [json.loads(text) for text in texts if text is not None]
        return [entry for entry in entries if scope is None or entry.get("scope") == scope]

    async def clear_journal(self, scope: str | None) -> None:
        if scope is None:
            async with self._reach():
                await self._redis.delete(PREFIX + "journal", PREFIX + "journal:entries")
            return
        ids = [entry["id"] for entry in await self.journal(scope)]
        if ids:
            async with self._reach():
                await self._forget_entries(keys=[PREFIX + "journal", PREFIX + "journal:entries"], args=ids)

    # --- everything -----------------------------------------------------------------------------

    async def reset(self, scope: str | None) -> None:
        if scope is None:
            async with self._reach():
                # Everything but the process counter: numbers already taken stay taken.
                found = self._redis.scan_iter(match=PREFIX + "*", count=1000)
                doomed = [key async for key in found if key != PREFIX + "processes"]
                if doomed:
                    await self._redis.delete(*doomed)
            self._remote_faults = 0
            return
        secrets = [s.value for s in await self.list_secrets(scope)]
        if secrets:
            async with self._reach():
                await self._redis.zrem(PREFIX + "secrets", *secrets)
                keys = [PREFIX + "secret:" + value for value in secrets]
                await self._redis.delete(*keys, *(key + ":sessions" for key in keys))
        await self.clear_faults(scope)
        await self.clear_journal(scope)
