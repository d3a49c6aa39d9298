"""Log output: one readable line per event, or one JSON object per line (``--log-format json``).

Nothing logged carries a credential: requests are logged by method, path, status,
scope and request id only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "startup_line"]

#: Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged as a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Send the server's logs to stderr at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's own access log would duplicate ours; its errors still come through.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def startup_line(
    fmt: str, *, version: str, host: str, port: int, seed: int, scenario: str | None, workers: int = 1
) -> str:
    """The one line the server prints when it is ready: where it listens, its seed and its scenario.

    Text: ``mockserver 1.0 listening on http://127.0.0.1:8080 (seed 7, scenario flaky)``; with the
    JSON log format, the same as one JSON object shaped like the log lines, with the values as fields.
    """
    address = f"http://{host}:{port}"
    details = f"seed {seed}" + (f", scenario {scenario}" if scenario else "")
    pool = f" [{workers} workers]" if workers > 1 else ""
    if fmt != "json":
        return f"mockserver {version} listening on {address} ({details}){pool}"
    record = logging.makeLogRecord(
        {
            "name": "mockserver",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": f"listening on {address} ({details}){pool}",
            "version": version,
            "host": host,
            "port": port,
            "seed": seed,
            "scenario": scenario,
            "workers": workers,
        }
    )
    return JsonFormatter().format(record)
