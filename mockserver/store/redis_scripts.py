"""Reply rules and transcripts in Redis, so that a script posted on one replica serves sessions on all.

The Realtime engine asks for its script synchronously (a hook of the event loop's turn that plans a
response), so these use redis-py's **synchronous** client: one loopback round trip (about 0.1 ms) blocks
the loop, which a mock can afford; the memory store's path is untouched. A scenario's rules and
transcripts stay in each process, as its fault rules do (every replica loads the scenario): they come
first, as they do in memory, and keep their ids ``reply_1`` to ``reply_N``; posted ones number on from
there with a shared counter, so ids never collide across processes.

Layout (every key under ``mockserver:``):

- ``replies``, ``replies:left``, ``replies:applied``: hashes by rule id (the rule as JSON, uses left (-1:
  until cleared), uses so far); ``replies:next``, the id counter. A use is taken by a Lua script, so a
  ``times: 2`` rule serves exactly two responses across all processes.
- ``transcripts``: one list of ``[scope, text]`` (JSON) in the order they were posted; a Lua script takes
  the first of a scope, so each is heard once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..realtime.replies import (
    MAX_REPLY_RULES,
    MAX_TRANSCRIPTS,
    ReplyBook,
    ReplyRule,
    ScriptedCall,
    Transcript,
    TranscriptQueue,
    too_many_reply_rules,
    too_many_transcripts,
)
from . import STORE_TIMEOUT, StoreUnavailableError
from .redis import TAKE_USE

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..realtime.reply_specs import ReplyRuleSpec

__all__ = ["RedisReplyBook", "RedisTranscriptQueue", "sync_client"]

_T = TypeVar("_T")

_REPLIES = ("replies", "replies:left", "replies:applied")

_ADD_REPLY = """
if redis.call('HLEN', KEYS[1]) + 1 > tonumber(ARGV[1]) then return -1 end
local id = 'reply_' .. (tonumber(ARGV[4]) + redis.call('INCR', KEYS[4]))
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[3], id, 0)
return id
"""

_REMOVE_REPLY = """
local rule = redis.call('HGET', KEYS[1], ARGV[1])
if not rule then return nil end
local left = redis.call('HGET', KEYS[2], ARGV[1])
local applied = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return {rule, left, applied}
"""

_ADD_TRANSCRIPTS = """
if redis.call('LLEN', KEYS[1]) + #ARGV - 1 > tonumber(ARGV[1]) then return -1 end
for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
return #ARGV - 1
"""

# An entry is JSON ``[scope, text]``: it is the scope's when it starts with ``[<scope as JSON>,``.
_TAKE_TRANSCRIPT = """
local prefix = ARGV[1]
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.sub(entry, 1, #prefix) == prefix then
    redis.call('LREM', KEYS[1], 1, entry)
    return entry
  end
end
return nil
"""

_CLEAR_TRANSCRIPTS = """
local prefix = ARGV[1]
local kept = {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.sub(entry, 1, #prefix) ~= prefix then table.insert(kept, entry) end
end
redis.call('DEL', KEYS[1])
for i = 1, #kept do redis.call('RPUSH', KEYS[1], kept[i]) end
return #kept
"""


def sync_client(url: str) -> redis.Redis:
    """A synchronous client bounded like the store's own: 1 s to connect or read, no retries."""
    return redis.Redis.from_url(
        url,
        socket_timeout=STORE_TIMEOUT,
        socket_connect_timeout=STORE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        health_check_interval=0,
    )


def _reach(call: Callable[[], _T]) -> _T:
    """Whatever goes wrong on the way to Redis is a 503 (an ``error`` event and a 1011 close in a session)."""
    try:
        return call()
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from None


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class RedisReplyBook(ReplyBook):
    """Posted rules in Redis (shared), a scenario's in this process (see the module's note)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__()
        self._redis = client
        self._keys = [prefix + name for name in _REPLIES]
        self._counter = prefix + "replies:next"
        self._add = client.register_script(_ADD_REPLY)
        self._take = client.register_script(TAKE_USE)
        self._remove = client.register_script(_REMOVE_REPLY)

    def _shared(self) -> list[ReplyRule]:
        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for key in self._keys:
                pipe.hgetall(key)
            return pipe.execute()

        rules, left, applied = _reach(read)
        found = [self._rule(rule_id, data, left.get(rule_id), applied.get(rule_id)) for rule_id, data in rules.items()]
        found.sort(key=lambda rule: int(rule.id.rpartition("_")[2]))
        return found

    @staticmethod
    def _rule(rule_id: str, data: str, left: str | None, applied: str | None) -> ReplyRule:
        fields = json.loads(data)
        remaining = int(left) if left is not None else -1
        return ReplyRule(
            id=rule_id,
            scope=fields["scope"],
            text=fields["text"],
            tool_calls=tuple(ScriptedCall(*call) for call in fields["tool_calls"]),
            user_text=fields["user_text"],
            tool_output=fields["tool_output"],
            remaining=None if remaining < 0 else remaining,
            applied=int(applied or 0),
        )

    def add(self, spec: ReplyRuleSpec, scope: str | None, *, all_scopes: bool = False) -> ReplyRule:
        if all_scopes:  # a scenario's: this process's
            return super().add(spec, scope, all_scopes=True)
        rule = ReplyRule.from_spec(spec, "", scope)
        data = {
            "scope": scope,
            "text": rule.text,
            "tool_calls": [[call.name, call.arguments, call.given] for call in rule.tool_calls],
            "user_text": rule.user_text,
            "tool_output": rule.tool_output,
        }
        left = -1 if rule.remaining is None else rule.remaining
        # Posted rules number on after the scenario's (the same count in every replica).
        scenario = self._next_id - 1
        args: list[Any] = [MAX_REPLY_RULES - len(self._rules), _dump(data), left, scenario]
        found = _reach(lambda: self._add(keys=[*self._keys, self._counter], args=args))
        if found == -1:
            raise too_many_reply_rules()
        rule.id = str(found)
        return rule

    def make_room(self, count: int) -> None:
        # redis-py types its commands for both clients (sync and asyncio): this one's answer at once.
        shared = cast("int", _reach(lambda: self._redis.hlen(self._keys[0])))
        if len(self._rules) + int(shared) + count > MAX_REPLY_RULES:
            raise too_many_reply_rules()

    def rules(self, scope: str | None = None) -> list[ReplyRule]:
        return super().rules(scope) + [rule for rule in self._shared() if scope is None or rule.in_scope(scope)]

    def remove(self, rule_id: str) -> ReplyRule | None:
        found = _reach(lambda: self._remove(keys=self._keys, args=[rule_id]))
        if found is None:
            return super().remove(rule_id)
        data, left, applied = found
        return self._rule(rule_id, data, left, applied)

    def clear(self, scope: str | None = None) -> None:
        super().clear(scope)
        if scope is None:
            _reach(lambda: self._redis.delete(*self._keys))
            return
        for rule in self._shared():
            if rule.scope == scope:
                self.remove(rule.id)

    def reset(self) -> None:
        super().reset()
        _reach(lambda: self._redis.delete(*self._keys, self._counter))

    def matching(self, scope: str | None, user_text: str | None, tool_output: str | None) -> Iterator[ReplyRule]:
        yield from super().matching(scope, user_text, tool_output)
        for rule in self._shared():
            if rule.in_scope(scope) and rule.matches(user_text, tool_output):
                yield rule

    def serve(self, rule: ReplyRule) -> bool:
        if rule.all_scopes:
            return super().serve(rule)
        taken = _reach(lambda: self._take(keys=self._keys, args=[rule.id]))
        if taken == -2:  # another process used it up (or it was cleared) first
            return False
        applied, left = taken
        rule.applied = int(applied)
        rule.remaining = None if int(left) < 0 else int(left)
        return True


class RedisTranscriptQueue(TranscriptQueue):
    """Posted transcripts in one Redis list (shared), a scenario's in this process (taken first, as in memory)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__()
        self._redis = client
        self._key = prefix + "transcripts"
        self._add = client.register_script(_ADD_TRANSCRIPTS)
        self._take = client.register_script(_TAKE_TRANSCRIPT)
        self._clear = client.register_script(_CLEAR_TRANSCRIPTS)

    @staticmethod
    def _prefix(scope: str | None) -> str:
        return "[" + _dump(scope) + ","

    def add(self, texts: Sequence[str], scope: str | None, *, all_scopes: bool = False) -> list[Transcript]:
        if all_scopes:  # a scenario's: this process's
            return super().add(texts, scope, all_scopes=True)
        entries = [_dump([scope, text]) for text in texts]
        if _reach(lambda: self._add(keys=[self._key], args=[MAX_TRANSCRIPTS - len(self._queue), *entries])) == -1:
            raise too_many_transcripts()
        return [Transcript(text, scope) for text in texts]

    def pending(self, scope: str | None = None) -> list[Transcript]:
        entries = cast("list[str]", _reach(lambda: self._redis.lrange(self._key, 0, -1)))
        shared = [Transcript(text, entry_scope) for entry_scope, text in map(json.loads, entries)]
        return super().pending(scope) + [entry for entry in shared if scope is None or entry.in_scope(scope)]

    def take(self, scope: str | None) -> str | None:
        local = super().take(scope)
        if local is not None:
            return local
        entry = _reach(lambda: self._take(keys=[self._key], args=[self._prefix(scope)]))
        return None if entry is None else str(json.loads(entry)[1])

    def clear(self, scope: str | None = None) -> None:
        super().clear(scope)
        if scope is None:
            _reach(lambda: self._redis.delete(self._key))
        else:
            _reach(lambda: self._clear(keys=[self._key], args=[self._prefix(scope)]))
