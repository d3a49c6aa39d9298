"""The mock's own OpenAPI document, served at ``GET /__mock/openapi.json``.

It covers the control surface and the emulated OpenAI endpoint. The request schema
of the OpenAI endpoint is generated from the same pydantic models that validate it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ._version import __version__
from .faults import CONNECTION_FAULTS
from .presets import PRESETS

__all__ = ["control_openapi"]

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": _ref(name)}}}


_ERROR = _json_response("An error in OpenAI's envelope.", _ref("ErrorResponse"))
_SCOPE = {
    "name": "X-Mock-Scope",
    "in": "header",
    "required": False,
    "description": "Partition journal, faults, secrets, replies and transcripts by this name (parallel tests).",
    "schema": {"type": "string"},
}


def _static_schemas() -> dict[str, Any]:
    nullable_string = {"type": ["string", "null"]}
    return {
        "ErrorResponse": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "param", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "param": nullable_string,
                        "code": {"type": ["string", "integer", "null"]},
                    },
                }
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "store"],
            "properties": {
                "status": {"enum": ["ok", "unavailable"]},
                "version": {"type": "string"},
                "store": {
                    "type": "object",
                    "required": ["kind", "ok"],
                    "properties": {"kind": {"enum": ["memory", "redis"]}, "ok": {"type": "boolean"}},
                },
            },
        },
        "Secret": {
            "type": "object",
            "required": ["value", "kind", "created_at", "expires_at", "status", "scope", "session"],
            "properties": {
                "value": {"type": "string", "pattern": "^ek_[0-9a-f]{32}$"},
                "kind": {"enum": ["realtime", "translation"], "description": "Which endpoint minted it."},
                "created_at": {"type": "integer"},
                "expires_at": {"type": "integer"},
                "status": {"enum": ["active", "expired", "revoked"]},
                "scope": nullable_string,
                "session": {"type": "object"},
                "sessions": {
                    "type": "array",
                    "description": "Realtime sessions opened with this key.",
                    "items": {
                        "type": "object",
                        "required": ["session_id", "transport", "opened_at"],
                        "properties": {
                            "session_id": {"type": "string"},
                            "transport": {"enum": ["websocket", "webrtc"]},
                            "opened_at": {"type": "integer"},
                            "call_id": {"type": "string"},
                        },
                    },
                },
            },
        },
        "JournalEntry": {
            "type": "object",
            "required": ["id", "time", "scope", "method", "path", "headers", "body", "status"],
            "properties": {
                "id": {"type": "string"},
                "time": {"type": "number"},
                "scope": nullable_string,
                "method": {"type": "string"},
                "path": {"type": "string"},
                "query": {"type": "object", "additionalProperties": {"type": "string"}},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {},
                "status": {"type": ["integer", "null"]},
                "fault": {"type": ["string", "null"]},
                "error": {"type": ["string", "null"]},
                "layer": {"enum": ["scripted", "header", "configured", None]},
                "rule_id": nullable_string,
                "latency_ms": {"type": "number"},
                "duration_ms": {"type": "number"},
                "client_disconnected": {"type": "boolean"},
            },
        },
        "FaultMatch": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "description": "Exact path or glob, e.g. /v1/realtime/*"},
                "method": {"type": "string"},
                "model": {"type": "string"},
                "session_type": {"enum": ["realtime", "transcription", "translation"]},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "FaultRuleInput": {
            "type": "object",
            "additionalProperties": False,
            "description": "At least one of status, error, latency_ms or fault.",
            "properties": {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "error": {"enum": list(PRESETS)},
                "times": {"type": ["integer", "null"], "minimum": 1, "description": "null: until cleared"},
                "latency_ms": {"type": "number", "minimum": 0},
                "fault": {"enum": list(CONNECTION_FAULTS)},
                "retry_after_ms": {"type": "integer", "minimum": 0},
                "retry_after": {"type": "number", "minimum": 0},
                "x_should_retry": {"type": "boolean"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
                "drop_after_events": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "WebSocket: drop the connection after this many server events.",
                },
                "event_delay_ms": {
                    "type": "number",
                    "minimum": 0,
                    "description": "WebSocket: delay every server event by this much.",
                },
                "match": _ref("FaultMatch"),
            },
        },
        "FaultRule": {
            "type": "object",
            "required": ["id", "scope", "times", "applied"],
            "properties": {
                "id": {"type": "string"},
                "scope": nullable_string,
                "times": {"type": ["integer", "null"]},
                "applied": {"type": "integer"},
            },
        },
        "ReplyMatch": {
            "type": "object",
            "additionalProperties": False,
            "description": "Every key given must hold; none given: every response.",
            "properties": {
                "user_text": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Case-insensitive substring of the latest user message (typed or transcribed).",
                },
                "tool_output": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The function whose function_call_output is the latest item.",
                },
            },
        },
        "ReplyToolCall": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "arguments": {
                    "type": ["object", "string"],
                    "description": "An object, or a string of JSON that parses to an object (streamed as given).",
                },
            },
        },
        "ReplyRuleInput": {
            "type": "object",
            "additionalProperties": False,
            "description": "At least one of text or tool_calls.",
            "properties": {
                "match": _ref("ReplyMatch"),
                "text": {"type": "string", "minLength": 1, "description": "What the assistant says."},
                "tool_calls": {"type": "array", "minItems": 1, "items": _ref("ReplyToolCall")},
                "times": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "Responses it serves; null: every match.",
                },
            },
        },
        "ReplyRule": {
            "type": "object",
            "required": ["id", "scope", "all_scopes", "match", "text", "tool_calls", "times", "applied"],
            "properties": {
                "id": {"type": "string"},
                "scope": nullable_string,
                "all_scopes": {"type": "boolean"},
                "match": _ref("ReplyMatch"),
                "text": nullable_string,
                "tool_calls": {"type": "array", "items": _ref("ReplyToolCall")},
                "times": {"type": ["integer", "null"]},
                "applied": {"type": "integer"},
            },
        },
        "TranscriptsInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["transcripts"],
            "properties": {"transcripts": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
        },
        "TranscriptList": {
            "type": "object",
            "required": ["data", "transcripts"],
            "properties": {
                "data": {"type": "array", "items": _ref("Transcript")},
                "transcripts": {"type": "array", "items": {"type": "string"}, "description": "The texts of data."},
            },
        },
        "Transcript": {
            "type": "object",
            "required": ["text", "scope", "all_scopes"],
            "properties": {"text": {"type": "string"}, "scope": nullable_string, "all_scopes": {"type": "boolean"}},
        },
        "Preset": {
            "type": "object",
            "required": ["name", "status", "summary"],
            "properties": {"name": {"type": "string"}, "status": {"type": "integer"}, "summary": {"type": "string"}},
        },
        "Clock": {
            "type": "object",
            "required": ["now", "offset", "iso", "frozen"],
            "properties": {
                "now": {"type": "number"},
                "offset": {"type": "number"},
                "iso": {"type": "string"},
                "frozen": {"type": "boolean", "description": "Started with --start-time: still between moves."},
            },
        },
        "ClockUpdate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Exactly one of advance (seconds forward) or set (epoch seconds).",
            "properties": {
                "advance": {"type": "number", "minimum": 0, "maximum": 315360000},
                "set": {"type": "number", "minimum": 0, "maximum": 4294967296},
            },
        },
        "SipHeader": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "value"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 256},
                "value": {"type": "string", "maxLength": 8192},
            },
        },
        "IncomingCallInput": {
            "type": "object",
            "additionalProperties": False,
            "description": "A SIP call rings; with webhook_url, its realtime.call.incoming webhook is sent there "
            "(loopback hosts, or those allowed with --webhook-host).",
            "properties": {
                "webhook_url": {
                    "type": "string",
                    "maxLength": 2048,
                    "pattern": "^https?://(127\\.0\\.0\\.1|localhost)(:[0-9]{1,5})?(/[A-Za-z0-9_./-]*)?$",
                },
                "from": {"type": "string", "maxLength": 2048},
                "to": {"type": "string", "maxLength": 2048},
                "sip_headers": {"type": "array", "maxItems": 64, "items": _ref("SipHeader")},
                "sip_media_security": {"enum": ["rtp", "srtp"]},
            },
        },
        "Call": {
            "type": "object",
            "required": ["id", "transport", "status", "created_at", "updated_at", "scope", "session"],
            "properties": {
                "id": {"type": "string"},
                "transport": {"enum": ["sip", "webrtc"]},
                "status": {"enum": ["ringing", "accepted", "rejected", "referred", "hung_up", "ended"]},
                "created_at": {"type": "integer"},
                "updated_at": {"type": "integer"},
                "scope": nullable_string,
                "secret": nullable_string,
                "sip_headers": {"type": "array", "items": _ref("SipHeader")},
                "session": {"type": ["object", "null"]},
                "reject_status_code": {"type": ["integer", "null"]},
                "refer_to": nullable_string,
                "webhook": {"type": ["object", "null"]},
            },
        },
        "TranslationClientSecretResponse": {
            "type": "object",
            "required": ["value", "expires_at", "session"],
            "properties": {
                "value": {"type": "string", "pattern": "^ek_[0-9a-f]{32}$"},
                "expires_at": {"type": "integer"},
                "session": {"type": "object", "required": ["id", "type", "expires_at", "model", "audio"]},
            },
        },
        "ClientSecretResponse": {
            "type": "object",
            "required": ["value", "expires_at", "session"],
            "properties": {
                "value": {"type": "string", "pattern": "^ek_[0-9a-f]{32}$"},
                "expires_at": {"type": "integer"},
                "session": {"type": "object", "required": ["type", "object", "id"]},
            },
        },
    }


@cache
def control_openapi() -> dict[str, Any]:
    """The document (built once; callers must not mutate it)."""
    from .schemas.requests import RealtimeCreateClientSecretRequest  # noqa: PLC0415 - heavy, only on demand
    from .schemas.translation import RealtimeTranslationClientSecretCreateRequest  # noqa: PLC0415

    request_schema = RealtimeCreateClientSecretRequest.model_json_schema(ref_template=_REF)
    translation_schema = RealtimeTranslationClientSecretCreateRequest.model_json_schema(ref_template=_REF)
    schemas = {**request_schema.pop("$defs", {}), **translation_schema.pop("$defs", {}), **_static_schemas()}
    schemas["RealtimeCreateClientSecretRequest"] = request_schema
    schemas["RealtimeTranslationClientSecretCreateRequest"] = translation_schema

    def op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"summary": summary, "parameters": [_SCOPE], "responses": responses, **extra}

    def body(name: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}

    mint: dict[str, Any] = {
        "summary": "Mint an ephemeral ek_ client secret (the emulated OpenAI endpoint).",
        "security": [{"bearer": []}],
        "parameters": [_SCOPE],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": _ref("RealtimeCreateClientSecretRequest")}},
        },
        "responses": {
            "200": _json_response("The secret and its session.", _ref("ClientSecretResponse")),
            "400": _ERROR,
            "401": _ERROR,
            "413": _ERROR,
        },
    }
    translation_mint = {
        **mint,
        "summary": "Mint an ephemeral ek_ client secret for a translation session (the emulated OpenAI endpoint).",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("RealtimeTranslationClientSecretCreateRequest")}},
        },
        "responses": {
            **mint["responses"],
            "200": _json_response("The secret and its session.", _ref("TranslationClientSecretResponse")),
        },
    }
    call_id = [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths: dict[str, Any] = {
        "/v1/realtime/client_secrets": {"post": mint},
        "/v1/realtime/translations/client_secrets": {"post": translation_mint},
        "/__mock/health": {
            "get": op(
                "Liveness, and the store's state.",
                {
                    "200": _json_response("Alive.", _ref("Health")),
                    "503": _json_response("The store does not answer.", _ref("Health")),
                },
            )
        },
        "/__mock/settings": {
            "get": op("The settings in force, with the seed used.", {"200": _json_response("Settings.", {})})
        },
        "/__mock/secrets": {"get": op("Minted secrets.", {"200": _json_response("Secrets.", _list_of("Secret"))})},
        "/__mock/secrets/{value}": {
            "parameters": [{"name": "value", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": op("One minted secret.", {"200": _json_response("The secret.", _ref("Secret")), "404": _ERROR}),
            "delete": op("Revoke a secret.", {"200": _json_response("Revoked.", _ref("Secret")), "404": _ERROR}),
        },
        "/__mock/requests": {
            "get": op(
                "The request journal, newest last.", {"200": _json_response("Entries.", _list_of("JournalEntry"))}
            ),
            "delete": op("Clear the journal.", {"200": _json_response("Cleared.", _list_of("JournalEntry"))}),
        },
        "/__mock/faults": {
            "get": op("Scripted fault rules.", {"200": _json_response("Rules.", _list_of("FaultRule"))}),
            "post": op(
                "Add a rule (an object) or several in order (an array).",
                {"201": _json_response("Added.", {}), "400": _ERROR},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    _ref("FaultRuleInput"),
                                    {"type": "array", "items": _ref("FaultRuleInput")},
                                ]
                            }
                        }
                    },
                },
            ),
            "delete": op("Clear the rules.", {"200": _json_response("Cleared.", _list_of("FaultRule"))}),
        },
        "/__mock/faults/{rule_id}": {
            "parameters": [{"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": op("Remove one rule.", {"200": _json_response("Removed.", _ref("FaultRule")), "404": _ERROR}),
        },
        "/__mock/replies": {
            "get": op(
                "Reply rules, in the order they are tried.", {"200": _json_response("Rules.", _list_of("ReplyRule"))}
            ),
            "post": op(
                "Add a reply rule (an object) or several in order (an array).",
                {
                    "201": _json_response("Added.", {"oneOf": [_ref("ReplyRule"), _list_of("ReplyRule")]}),
                    "400": _ERROR,
                },
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [_ref("ReplyRuleInput"), {"type": "array", "items": _ref("ReplyRuleInput")}]
                            }
                        }
                    },
                },
            ),
            "delete": op("Clear the rules.", {"200": _json_response("Cleared.", _list_of("ReplyRule"))}),
        },
        "/__mock/replies/{rule_id}": {
            "parameters": [{"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": op("Remove one rule.", {"200": _json_response("Removed.", _ref("ReplyRule")), "404": _ERROR}),
        },
        "/__mock/transcripts": {
            "get": op(
                "Transcripts waiting for committed audio items, in order.",
                {"200": _json_response("Transcripts.", _ref("TranscriptList"))},
            ),
            "post": op(
                "What the user says in the next committed audio items.",
                {"201": _json_response("Added.", _ref("TranscriptList")), "400": _ERROR},
                requestBody=body("TranscriptsInput"),
            ),
            "delete": op("Clear the transcripts.", {"200": _json_response("Cleared.", _ref("TranscriptList"))}),
        },
        "/__mock/presets": {"get": op("Error presets.", {"200": _json_response("Presets.", _list_of("Preset"))})},
        "/__mock/calls": {
            "get": op("Calls (SIP and WebRTC), oldest first.", {"200": _json_response("Calls.", _list_of("Call"))}),
            "post": op(
                "Ring a SIP call (and send its realtime.call.incoming webhook).",
                {"201": _json_response("The call, with the webhook delivery.", _ref("Call")), "400": _ERROR},
                requestBody=body("IncomingCallInput"),
            ),
        },
        "/__mock/calls/{call_id}": {
            "parameters": call_id,
            "get": op("One call.", {"200": _json_response("The call.", _ref("Call")), "404": _ERROR}),
            "delete": op("The caller hangs up.", {"200": _json_response("The call.", _ref("Call")), "404": _ERROR}),
        },
        "/__mock/clock": {
            "get": op("The server's clock.", {"200": _json_response("Clock.", _ref("Clock"))}),
            "post": op(
                "Move the clock.",
                {"200": _json_response("Clock.", _ref("Clock")), "400": _ERROR},
                requestBody=body("ClockUpdate"),
            ),
        },
        "/__mock/reset": {
            "post": op("Back to a fresh server (or forget one scope).", {"200": _json_response("Reset.", {})})
        },
        "/__mock/openapi.json": {"get": op("This document.", {"200": _json_response("OpenAPI 3.1.", {})})},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "openai-realtime-mock",
            "version": __version__,
            "description": "Control surface of the mock (/__mock/...) and the emulated OpenAI endpoint.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
