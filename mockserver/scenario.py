"""Scenario files: settings, scripted fault rules and scripted conversations loaded at start-up.

A scenario is JSON: ``{"description": "...", "settings": {...}, "faults": [...], "replies": [...],
"transcripts": [...]}``. ``settings`` uses the names of ``Settings`` fields (``latency_ms``,
``error_rate``, ...) and ranks below flags and environment variables; ``faults`` are fault rules as
``POST /__mock/faults`` takes them, ``replies`` reply rules as ``POST /__mock/replies`` takes them,
``transcripts`` the strings of ``POST /__mock/transcripts``. All of them apply in every scope. A bare
name (``flaky``) picks a bundled scenario.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import OpenAIError
from .schemas.validation import validate_model
from .settings import Settings, SettingsError

if TYPE_CHECKING:
    from .fault_specs import FaultRuleSpec
    from .realtime.reply_specs import ReplyRuleSpec

__all__ = ["BUNDLED", "Scenario", "load_scenario", "with_scenario"]

M = TypeVar("M", bound=BaseModel)

BUNDLED = ("flaky", "slow", "rate-limited", "outage", "weather-agent")
_ALLOWED_KEYS = {"description", "settings", "faults", "replies", "transcripts"}
_NOT_IN_SCENARIOS = {"scenario", "host", "port"}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    settings: dict[str, Any]
    faults: tuple[FaultRuleSpec, ...]
    replies: tuple[ReplyRuleSpec, ...] = ()
    transcripts: tuple[str, ...] = ()


def _bundled(name: str) -> str:
    from importlib import resources  # noqa: PLC0415 - only when a scenario is named

    packaged = resources.files("mockserver").joinpath("scenarios", f"{name}.json")
    if packaged.is_file():
        return packaged.read_text()
    # An editable install runs from the checkout, where the one copy lives in fixtures/.
    return (Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / f"{name}.json").read_text()


def _read(reference: str) -> tuple[str, str]:
    path = Path(reference)
    if reference in BUNDLED and not path.exists():
        return reference, _bundled(reference)
    try:
        return path.stem, path.read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read scenario file {reference}: {exc.strerror or exc}") from None


def load_scenario(reference: str) -> Scenario:
    """Read and check a scenario; any problem is one ``SettingsError`` line."""
    # Built when a scenario is named, not by every server.
    from .fault_specs import FaultRuleSpec  # noqa: PLC0415 - rule models are built when a scenario has rules
    from .realtime.reply_specs import ReplyRuleSpec, TranscriptsSpec  # noqa: PLC0415

    name, text = _read(reference)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"scenario {reference} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not set(data) <= _ALLOWED_KEYS:
        raise SettingsError(f"scenario {reference} must be an object with keys {sorted(_ALLOWED_KEYS)}")
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        raise SettingsError(f"scenario {reference}: 'settings' must be an object")
    unknown = set(settings) - (set(Settings.model_fields) - _NOT_IN_SCENARIOS)
    if unknown:
        raise SettingsError(f"scenario {reference}: unknown setting(s) {', '.join(sorted(unknown))}")
    try:
        Settings.model_validate(settings)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise SettingsError(f"scenario {reference}: invalid setting {error['loc'][0]}: {error['msg']}") from None
    faults = _rules(reference, data, "faults", FaultRuleSpec)
    replies = _rules(reference, data, "replies", ReplyRuleSpec)
    transcripts: tuple[str, ...] = ()
    if data.get("transcripts") is not None:
        try:
            spec = validate_model(TranscriptsSpec, {"transcripts": data["transcripts"]})
        except OpenAIError as error:
            raise SettingsError(f"scenario {reference}: {error.message}") from None
        transcripts = tuple(spec.transcripts)
    return Scenario(
        name=name,
        description=str(data.get("description", "")),
        settings=settings,
        faults=faults,
        replies=replies,
        transcripts=transcripts,
    )


def _rules(reference: str, data: dict[str, Any], key: str, model: type[M]) -> tuple[M, ...]:
    """The rules under ``key``, each validated as the control surface would; one line for the first bad one."""
    rules = data.get(key) or []
    if not isinstance(rules, list):
        raise SettingsError(f"scenario {reference}: '{key}' must be an array")
    specs = []
    for index, rule in enumerate(rules):
        try:
            specs.append(validate_model(model, rule))
        except OpenAIError as error:
            raise SettingsError(f"scenario {reference}: {key}[{index}]: {error.message}") from None
    return tuple(specs)


def with_scenario(settings: Settings) -> tuple[Settings, Scenario | None]:
    """``settings`` with its scenario's settings filled in where nothing more specific set them."""
    if settings.scenario is None:
        return settings, None
    scenario = load_scenario(settings.scenario)
    explicit = settings.model_dump(include=settings.model_fields_set)
    return Settings.model_validate({**scenario.settings, **explicit}), scenario
