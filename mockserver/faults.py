"""Faults and latency in three layers, first match wins: scripted, per request, configured.

1. **Scripted** rules (``POST /__mock/faults``, scenario files, the Python handle)
   apply to the next N matching requests of their scope, in order, then are used up.
2. **Per request**: ``X-Mock-Status``, ``X-Mock-Latency-Ms``, ``X-Mock-Fault``,
   ``X-Mock-Error`` on the request itself.
3. **Configured** chaos: a base latency with jitter and an error rate over a
   weighted mix of statuses, drawn from the seeded generator.

This module only decides; ``middleware.py`` carries the decision out. The rules as clients send
them are validated by ``fault_specs.py`` (imported on first use).
"""

from __future__ import annotations

import fnmatch
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from multidict import istr

from .errors import OpenAIError
from .presets import PRESETS
from .settings import Settings

if TYPE_CHECKING:
    from .fault_specs import FaultRuleSpec

__all__ = [
    "CONNECTION_FAULTS",
    "MAX_FAULT_RULES",
    "Decision",
    "FaultPlan",
    "FaultRule",
    "RequestFacts",
    "configured_decision",
    "decision_from_headers",
    "decision_of",
]

ConnectionFault = Literal["reset", "empty", "malformed", "hang"]
CONNECTION_FAULTS: tuple[str, ...] = ("reset", "empty", "malformed", "hang")
#: Rules in force at once; more is a runaway script, not a test.
MAX_FAULT_RULES = 10_000

# As ``istr``: every OpenAI-surface request looks all four up, and multidict need not case-fold an istr.
HEADER_STATUS = istr("X-Mock-Status")
HEADER_LATENCY = istr("X-Mock-Latency-Ms")
HEADER_FAULT = istr("X-Mock-Fault")
HEADER_ERROR = istr("X-Mock-Error")
#: The translation mint's path ends so (with or without /v1).
TRANSLATION_MINT_SUFFIX = "/realtime/translations/client_secrets"


# --- what a request looks like to a rule -------------------------------------------------------------


@dataclass(frozen=True)
class RequestFacts:
    """The parts of a request a rule can match on."""

    method: str
    path: str
    scope: str | None
    model: str | None = None
    session_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(
        cls, method: str, path: str, scope: str | None, body: Any, headers: Mapping[str, str]
    ) -> RequestFacts:
        session = body.get("session") if isinstance(body, dict) else None
        model = session.get("model") if isinstance(session, dict) else None
        kind = session.get("type") if isinstance(session, dict) else None
        if path.endswith(TRANSLATION_MINT_SUFFIX):
            kind = "translation"  # a translation session has no type: the endpoint says it
        elif isinstance(body, dict) and session is None:
            kind = "realtime"  # an empty body mints a default realtime session
        return cls(
            method=method,
            path=path,
            scope=scope,
            model=model if isinstance(model, str) else None,
            session_type=kind if isinstance(kind, str) else None,
            headers=headers,
        )


# --- the rule as the server keeps it -------------------------------------------------------------------


@dataclass
class FaultRule:
    """A scripted rule with its remaining uses (``None``: until cleared)."""

    id: str
    scope: str | None
    status: int | None = None
    error: str | None = None
    remaining: int | None = 1
    latency_ms: float | None = None
    fault: str | None = None
    retry_after_ms: int | None = None
    retry_after: float | None = None
    x_should_retry: bool | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    type: str | None = None
    code: str | None = None
    drop_after_events: int | None = None
    event_delay_ms: float | None = None
    match: dict[str, Any] = field(default_factory=dict)
    applied: int = 0
    #: A scenario's rules belong to the whole server: they apply in every scope.
    all_scopes: bool = False

    @classmethod
    def from_spec(cls, spec: FaultRuleSpec, rule_id: str, scope: str | None, *, all_scopes: bool = False) -> FaultRule:
        data = spec.model_dump(exclude={"match", "times", "headers"})
        return cls(
            id=rule_id,
            scope=scope,
            all_scopes=all_scopes,
            remaining=spec.times,
            headers=dict(spec.headers or {}),
            match=spec.match.model_dump(exclude_none=True) if spec.match else {},
            **data,
        )

    def in_scope(self, scope: str | None) -> bool:
        return self.all_scopes or self.scope == scope

    def matches(self, facts: RequestFacts) -> bool:
        if not self.in_scope(facts.scope):
            return False
        match = self.match
        if "path" in match and not fnmatch.fnmatchcase(facts.path, match["path"]):
            return False
        if "method" in match and match["method"].upper() != facts.method.upper():
            return False
        if "model" in match and match["model"] != facts.model:
            return False
        if "session_type" in match and match["session_type"] != facts.session_type:
            return False
        wanted = match.get("headers") or {}
        lowered = {k.lower(): v for k, v in facts.headers.items()}
        return all(lowered.get(name.lower()) == value for name, value in wanted.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "all_scopes": self.all_scopes,
            "status": self.status,
            "error": self.error,
            "times": self.remaining,
            "applied": self.applied,
            "latency_ms": self.latency_ms,
            "fault": self.fault,
            "retry_after_ms": self.retry_after_ms,
            "retry_after": self.retry_after,
            "x_should_retry": self.x_should_retry,
            "headers": self.headers,
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "drop_after_events": self.drop_after_events,
            "event_delay_ms": self.event_delay_ms,
            "match": self.match,
        }


# --- what to do with one request ------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the middleware does to one request before (or instead of) the handler."""

    layer: str
    latency_ms: float = 0.0
    status: int | None = None
    error: str | None = None
    fault: str | None = None
    rule_id: str | None = None
    retry_after_ms: int | None = None
    retry_after: float | None = None
    x_should_retry: bool | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    type: str | None = None
    code: str | None = None
    drop_after_events: int | None = None
    event_delay_ms: float = 0.0

    @property
    def fails(self) -> bool:
        return self.status is not None or self.error is not None


#: What a scripted rule hands to its decision as it is (delays are capped, headers copied).
_PASSED_THROUGH = (
    "status",
    "error",
    "fault",
    "retry_after_ms",
    "retry_after",
    "x_should_retry",
    "message",
    "type",
    "code",
    "drop_after_events",
)


class FaultPlan:
    """Scripted rules in the order they were added; the first matching one is taken."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: FaultRuleSpec, scope: str | None, *, all_scopes: bool = False) -> FaultRule:
        self.make_room(1)
        rule = FaultRule.from_spec(spec, f"fault_{self._next_id}", scope, all_scopes=all_scopes)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def make_room(self, count: int) -> None:
        """Refuse (400) rules past ``MAX_FAULT_RULES``: scripted rules are meant to be few and used up."""
        if len(self._rules) + count > MAX_FAULT_RULES:
            raise OpenAIError(
                400,
                f"Too many fault rules: at most {MAX_FAULT_RULES} can be in force. Clear some with "
                "DELETE /__mock/faults, or use 'times' to let them be used up.",
                code="too_many_fault_rules",
            )

    def __bool__(self) -> bool:
        return bool(self._rules)

    def rules(self, scope: str | None = None) -> list[FaultRule]:
        """Every rule, or those that apply in ``scope`` (a scenario's apply in all)."""
        return [r for r in self._rules if scope is None or r.in_scope(scope)]

    def remove(self, rule_id: str) -> FaultRule | None:
        for index, rule in enumerate(self._rules):
            if rule.id == rule_id:
                return self._rules.pop(index)
        return None

    def clear(self, scope: str | None = None) -> None:
        """Drop every rule, or only those added in ``scope``."""
        self._rules = [] if scope is None else [r for r in self._rules if r.all_scopes or r.scope != scope]

    def take(self, facts: RequestFacts, cap_ms: float) -> Decision | None:
        """Use up one application of the first rule matching ``facts``."""
        for index, rule in enumerate(self._rules):
            if not rule.matches(facts):
                continue
            rule.applied += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._rules[index]
            return decision_of(rule, cap_ms)
        return None


def decision_of(rule: FaultRule, cap_ms: float) -> Decision:
    """What one application of a scripted rule does (its delays capped at ``cap_ms``)."""
    return Decision(
        layer="scripted",
        rule_id=rule.id,
        latency_ms=min(rule.latency_ms or 0.0, cap_ms),
        event_delay_ms=min(rule.event_delay_ms or 0.0, cap_ms),
        headers=dict(rule.headers),
        **{name: getattr(rule, name) for name in _PASSED_THROUGH},
    )


# --- per-request headers --------------------------------------------------------------------------------


def _header_error(name: str, expected: str, value: str) -> OpenAIError:
    return OpenAIError(
        400,
        f"Invalid {name} header: expected {expected}, but got '{value}'.",
        param=name,
        code="invalid_mock_header",
    )


def decision_from_headers(headers: Mapping[str, str], cap_ms: float) -> Decision | None:
    """The per-request layer; ``None`` when the request carries no ``X-Mock-*`` fault header."""
    status_text = headers.get(HEADER_STATUS)
    latency_text = headers.get(HEADER_LATENCY)
    fault = headers.get(HEADER_FAULT)
    error = headers.get(HEADER_ERROR)
    if status_text is None and latency_text is None and fault is None and error is None:
        return None
    status: int | None = None
    if status_text is not None:
        try:
            status = int(status_text.strip())
        except ValueError:
            raise _header_error(HEADER_STATUS, "an HTTP error status from 400 to 599", status_text) from None
        if not 400 <= status <= 599:
            raise _header_error(HEADER_STATUS, "an HTTP error status from 400 to 599", status_text)
    latency = 0.0
    if latency_text is not None:
        try:
            latency = float(latency_text.strip())
        except ValueError:
            raise _header_error(HEADER_LATENCY, "a number of milliseconds", latency_text) from None
        if not math.isfinite(latency) or latency < 0:
            raise _header_error(HEADER_LATENCY, "a number of milliseconds", latency_text)
    if fault is not None:
        fault = fault.strip().lower()
        if fault not in CONNECTION_FAULTS:
            raise _header_error(HEADER_FAULT, "one of " + ", ".join(CONNECTION_FAULTS), fault)
    if error is not None:
        error = error.strip()
        if error not in PRESETS:
            raise _header_error(HEADER_ERROR, "a preset name (see GET /__mock/presets)", error)
    return Decision(layer="header", latency_ms=min(latency, cap_ms), status=status, error=error, fault=fault)


# --- configured chaos -----------------------------------------------------------------------------------


def draw_latency(settings: Settings, rng: random.Random) -> float:
    """Base latency with jitter, in the configured distribution, capped."""
    base, jitter = settings.latency_ms, settings.latency_jitter_ms
    if jitter <= 0 or settings.latency_distribution == "fixed":
        value = base
    elif settings.latency_distribution == "uniform":
        value = base + rng.uniform(-jitter, jitter)
    else:  # lognormal: the median is the base latency; jitter sets the spread
        if base > 0:
            value = base * math.exp(rng.gauss(0.0, math.log1p(jitter / base)))
        else:
            value = jitter * rng.lognormvariate(0.0, 1.0)
    return min(max(value, 0.0), settings.latency_max_ms)


def configured_decision(settings: Settings, chaos: Callable[[], random.Random]) -> Decision | None:
    """The configured layer: ``None`` when no latency or error rate is configured. ``chaos`` gives the
    seeded generator the draws come from (asked only when there is something to draw)."""
    if settings.latency_ms <= 0 and settings.latency_jitter_ms <= 0 and settings.error_rate <= 0:
        return None
    rng = chaos()
    latency = draw_latency(settings, rng)
    status = None
    if settings.error_rate > 0 and rng.random() < settings.error_rate:
        mix = settings.error_mix
        statuses = [s for s, _ in mix]
        weights = [w for _, w in mix]
        status = rng.choices(statuses, weights=weights, k=1)[0]
    return Decision(layer="configured", latency_ms=latency, status=status)
