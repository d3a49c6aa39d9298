"""The one frozen ``Settings``, filled from three doors: flag > ``MOCKSERVER_*`` env > default.

``OPTIONS`` is the single table behind the command line, the environment and the
README's configuration table, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["OPTIONS", "LogLevel", "Option", "Settings", "SettingsError"]

LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseModel):
    """Everything the server can be told at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    seed: int | None = None
    api_keys: tuple[str, ...] = ()
    log_level: LogLevel = "info"
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_secrets: int = Field(10_000, ge=1)


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
    Option("log_level", "--log-level", "One of debug, info, warning, error.", "LEVEL"),
    Option("max_body_bytes", "--max-body-bytes", "Largest request body accepted (413 above it).", "BYTES"),
    Option(
        "max_secrets",
        "--max-secrets",
        "How many minted secrets are kept for look-up; expired ones are evicted first, then the oldest.",
        "N",
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
