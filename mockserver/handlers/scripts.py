"""The control routes of scripted conversations: ``/__mock/replies`` and ``/__mock/transcripts``.

Like ``/__mock/faults``: POST takes one object or (replies) an array, GET lists, DELETE clears, and
``X-Mock-Scope`` partitions all three. A session follows the scope of the mint that made its key.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..body import dump_json, parse_json, parse_json_object
from ..errors import OpenAIError, describe_json_type
from ..keys import STATE
from ..middleware import scope_of
from ..realtime.replies import Transcript
from ..realtime.reply_specs import ReplyRuleSpec, TranscriptsSpec
from ..schemas.validation import validate_model

__all__ = [
    "add_replies",
    "add_transcripts",
    "clear_replies",
    "clear_transcripts",
    "delete_reply",
    "list_replies",
    "list_transcripts",
]


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dump_json(payload), content_type="application/json")


async def _rules_body(request: web.Request) -> dict[str, Any] | list[Any]:
    """A rule (an object) or rules (an array); an empty body counts as ``{}``."""
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict | list):
        got = describe_json_type(body)
        message = f"Invalid body: expected a JSON object or an array of them, but got {got} instead."
        raise OpenAIError(400, message, code="invalid_type")
    return body


# --- reply rules ---------------------------------------------------------------------------------------


async def add_replies(request: web.Request) -> web.Response:
    """One rule (an object) or several in order (an array); answers with what was added."""
    book = request.app[STATE].scripts.replies
    scope = scope_of(request)
    body = await _rules_body(request)
    if isinstance(body, list):
        # Validate every rule before adding any, so a bad one leaves the rules untouched.
        specs = [validate_model(ReplyRuleSpec, item, prefix=f"[{index}]") for index, item in enumerate(body)]
        book.make_room(len(specs))
        return _json({"data": [book.add(spec, scope).to_json() for spec in specs]}, status=201)
    spec = validate_model(ReplyRuleSpec, body)
    return _json(book.add(spec, scope).to_json(), status=201)


async def list_replies(request: web.Request) -> web.Response:
    book = request.app[STATE].scripts.replies
    return _json({"data": [rule.to_json() for rule in book.rules(scope_of(request))]})


async def clear_replies(request: web.Request) -> web.Response:
    request.app[STATE].scripts.replies.clear(scope_of(request))
    return _json({"data": []})


async def delete_reply(request: web.Request) -> web.Response:
    rule_id = request.match_info["rule_id"]
    rule = request.app[STATE].scripts.replies.remove(rule_id)
    if rule is None:
        raise OpenAIError(404, f"No reply rule found with id '{rule_id}'.", code="not_found")
    return _json(rule.to_json())


# --- transcripts ---------------------------------------------------------------------------------------


def _transcripts(entries: list[Transcript]) -> dict[str, Any]:
    """A list of transcripts both ways: ``data`` as every control listing, ``transcripts`` as POST takes them."""
    return {"data": [entry.to_json() for entry in entries], "transcripts": [entry.text for entry in entries]}


async def add_transcripts(request: web.Request) -> web.Response:
    """``{"transcripts": [...]}`` joins the scope's queue; answers with what was added."""
    spec = validate_model(TranscriptsSpec, parse_json_object(await request.read()))
    added = request.app[STATE].scripts.transcripts.add(spec.transcripts, scope_of(request))
    return _json(_transcripts(added), status=201)


async def list_transcripts(request: web.Request) -> web.Response:
    queue = request.app[STATE].scripts.transcripts
    return _json(_transcripts(queue.pending(scope_of(request))))


async def clear_transcripts(request: web.Request) -> web.Response:
    request.app[STATE].scripts.transcripts.clear(scope_of(request))
    return _json(_transcripts([]))
