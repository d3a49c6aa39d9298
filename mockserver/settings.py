"""The one frozen ``Settings``, filled from three doors: flag > ``MOCKSERVER_*`` env > default.

``OPTIONS`` is the single table behind the command line, the environment and the
README's configuration table, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "OPTIONS",
    "LatencyDistribution",
    "LogFormat",
    "LogLevel",
    "Option",
    "Settings",
    "SettingsError",
    "parse_error_mix",
]

LogLevel = Literal["debug", "info", "warning", "error"]
LatencyDistribution = Literal["fixed", "uniform", "lognormal"]
LogFormat = Literal["text", "json"]
OnOff = Literal["on", "off"]
EventLoop = Literal["auto", "uvloop", "asyncio"]


def parse_error_mix(text: str) -> tuple[tuple[int, float], ...]:
    """``"429:0.5,500:0.3,503:0.2"`` -> ``((429, 0.5), (500, 0.3), (503, 0.2))``; a bare status weighs 1."""
    mix: list[tuple[int, float]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        status_text, _, weight_text = part.partition(":")
        status = int(status_text)
        weight = float(weight_text) if weight_text else 1.0
        if not 400 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP error status (400-599)")
        if weight <= 0:
            raise ValueError(f"weight {weight_text} must be positive")
        mix.append((status, weight))
    if not mix:
        raise ValueError("no statuses given")
    return tuple(mix)


class Settings(BaseModel):
    """Everything the server can be told at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    seed: int | None = None
    api_keys: tuple[str, ...] = ()
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    control: OnOff = "on"
    control_token: str | None = Field(None, min_length=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_secrets: int = Field(10_000, ge=1)
    journal_size: int = Field(1000, ge=0)
    latency_ms: float = Field(0, ge=0)
    latency_jitter_ms: float = Field(0, ge=0)
    latency_distribution: LatencyDistribution = "uniform"
    latency_max_ms: float = Field(30_000, ge=0)
    error_rate: float = Field(0, ge=0, le=1)
    error_statuses: str = "429:0.5,500:0.3,503:0.2"
    scenario: str | None = None
    realtime_pace: float = Field(0, ge=0, le=100)
    start_time: float | None = Field(None, ge=0, le=2**32 - 1)
    webhook_secret: str | None = Field(None, min_length=1)
    webhook_hosts: tuple[str, ...] = ()
    webhook_timeout_ms: float = Field(5000, gt=0, le=60_000)
    placeholder_call_ids: tuple[str, ...] = ("call_id",)

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: str | None) -> str | None:
        from .webhooks import check_secret  # noqa: PLC0415 - webhooks imports aiohttp's client

        return None if value is None else check_secret(value)

    @field_validator("placeholder_call_ids", "webhook_hosts")
    @classmethod
    def _drop_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item for item in value if item)

    max_calls: int = Field(20, ge=1, le=10_000)
    store: str = "memory"
    workers: int = Field(1, ge=1, le=64)
    loop: EventLoop = "auto"

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        value = value.strip()
        if value == "memory" or value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise ValueError("expected memory or a Redis URL such as redis://127.0.0.1:6379/0")

    @field_validator("error_statuses")
    @classmethod
    def _check_error_statuses(cls, value: str) -> str:
        try:
            parse_error_mix(value)
        except ValueError as exc:
            raise ValueError(f"expected STATUS:WEIGHT,... ({exc})") from None
        return value

    @property
    def error_mix(self) -> tuple[tuple[int, float], ...]:
        """``error_statuses`` parsed: (status, weight) pairs."""
        return parse_error_mix(self.error_statuses)


class SettingsError(ValueError):
    """A setting could not be read; the message is one line naming the flag or variable."""


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Option:
    """One setting's three doors and its documentation."""

    field: str
    flag: str
    meaning: str
    metavar: str = ""
    repeatable: bool = False
    #: Parses the environment variable's text (a repeatable flag's env is comma-separated).
    parse_env: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "MOCKSERVER_" + self.field.upper()

    @property
    def default(self) -> Any:
        return Settings.model_fields[self.field].default


OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", "Interface to bind. The Docker image sets 0.0.0.0.", "HOST"),
    Option("port", "--port", "TCP port; 0 picks a free one (the chosen port is printed).", "PORT"),
    Option(
        "seed",
        "--seed",
        "Seed for secrets, ids and fault draws; unset means a random seed (echoed in `x-mock-seed`).",
        "INT",
    ),
    Option(
        "api_keys",
        "--api-key",
        "Accept only this API key (repeat the flag for several; the env takes a comma-separated "
        "list). Unset: any non-empty key is accepted.",
        "KEY",
        repeatable=True,
        parse_env=_csv,
    ),
    Option("log_level", "--log-level", "One of debug, info, warning, error (debug also logs every request).", "LEVEL"),
    Option(
        "log_format", "--log-format", "text (one readable line per event) or json (one JSON object per line).", "FORMAT"
    ),
    Option(
        "control",
        "--control",
        "on, or off to turn the /__mock/ control surface off (except /__mock/health).",
        "ON|OFF",
    ),
    Option(
        "control_token",
        "--control-token",
        "Require this token on the control surface (`Authorization: Bearer TOKEN` or `X-Mock-Token: TOKEN`); "
        "/__mock/health stays open.",
        "TOKEN",
    ),
    Option("max_body_bytes", "--max-body-bytes", "Largest request body accepted (413 above it).", "BYTES"),
    Option(
        "max_secrets",
        "--max-secrets",
        "How many minted secrets are kept for look-up; expired ones are evicted first, then the oldest.",
        "N",
    ),
    Option(
        "journal_size", "--journal-size", "Requests kept in the journal (oldest dropped first); 0 turns it off.", "N"
    ),
    Option("latency_ms", "--latency-ms", "Base latency added to every OpenAI-surface request.", "MS"),
    Option("latency_jitter_ms", "--latency-jitter-ms", "Spread of the latency around the base.", "MS"),
    Option(
        "latency_distribution",
        "--latency-distribution",
        "How jitter is drawn: fixed (none), uniform (base +- jitter), lognormal (median base, long tail).",
        "KIND",
    ),
    Option(
        "latency_max_ms",
        "--latency-max-ms",
        "Cap on every delay: configured, scripted, per-request, and how long `hang` holds a connection.",
        "MS",
    ),
    Option(
        "error_rate", "--error-rate", "Share of OpenAI-surface requests (0..1) that fail with a drawn status.", "RATE"
    ),
    Option(
        "error_statuses",
        "--error-statuses",
        "Weighted mix the error rate draws from, as STATUS:WEIGHT,...",
        "MIX",
    ),
    Option(
        "start_time",
        "--start-time",
        "Start the clock at this instant (epoch seconds) and keep it still until moved through /__mock/clock: "
        "with --seed, every run gives byte-identical secrets, ids and bodies.",
        "EPOCH",
    ),
    Option(
        "webhook_secret",
        "--webhook-secret",
        "Signs webhooks the Standard Webhooks way (whsec_ + base64, as in OpenAI's dashboard). Unset: one derived "
        "from the seed, shown by GET /__mock/settings.",
        "SECRET",
    ),
    Option(
        "webhook_hosts",
        "--webhook-host",
        "A host besides loopback that webhooks may be sent to (repeat for several; the env takes a "
        "comma-separated list; * allows any).",
        "HOST",
        repeatable=True,
        parse_env=_csv,
    ),
    Option(
        "webhook_timeout_ms",
        "--webhook-timeout-ms",
        "How long a webhook delivery may take before it counts as failed.",
        "MS",
    ),
    Option(
        "placeholder_call_ids",
        "--placeholder-call-id",
        "A call id that always exists and takes every call-control action without changing (the official "
        "SDKs' generated tests use call_id). Repeat for several (they replace the default); an empty value for none.",
        "ID",
        repeatable=True,
        parse_env=_csv,
    ),
    Option(
        "scenario",
        "--scenario",
        "A scenario file (JSON: settings, fault rules, reply rules and transcripts) loaded at start-up, or the "
        "name of a bundled one: flaky, slow, rate-limited, outage, weather-agent.",
        "FILE",
    ),
    Option(
        "realtime_pace",
        "--realtime-pace",
        "How fast Realtime replies stream: 0 as fast as possible; 1 at playback speed (audio deltas as long apart "
        "as the audio they carry, text deltas 50 ms apart); 0.5 twice as fast.",
        "FACTOR",
    ),
    Option(
        "max_calls",
        "--max-calls",
        "WebRTC calls with media (the `webrtc` extra) open at once; one more gets 429 until a call ends.",
        "N",
    ),
    Option(
        "store",
        "--store",
        "Where shared state lives: memory (this process only) or redis://HOST:PORT/DB (shared by every worker and "
        "replica pointing at it; needs the `redis` extra).",
        "STORE",
    ),
    Option(
        "workers",
        "--workers",
        "Processes serving the one port (SO_REUSEPORT); more than one needs --store redis://...",
        "N",
    ),
    Option(
        "loop",
        "--loop",
        "The event loop: auto (uvloop when installed: the uvloop extra, about 15 percent less CPU per request), "
        "uvloop, or asyncio (the standard library's).",
        "LOOP",
    ),
)


def build_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Settings from parsed flags (``None`` = not given) over ``MOCKSERVER_*`` variables over defaults."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for option in OPTIONS:
        flag_value = flags.get(option.field)
        if flag_value not in (None, [], ()):
            values[option.field] = tuple(flag_value) if option.repeatable else flag_value
            origin[option.field] = option.flag
        elif option.env in environ:
            values[option.field] = option.parse_env(environ[option.env])
            origin[option.field] = option.env
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        where = origin.get(field, field)
        raise SettingsError(f"invalid value for {where}: {error['msg']}") from None
