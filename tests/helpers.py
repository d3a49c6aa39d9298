"""Helpers shared by the test modules: fixture files, a server on a background thread, raw HTTP requests."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mockserver import Settings, create_app
from mockserver.serving import MockRunner, server_options

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def http_request(method: str, path: str, *, headers: bytes = b"", body: bytes = b"", close: bool = True) -> bytes:
    """One HTTP/1.1 request as bytes, for a raw socket (``Connection: close`` unless ``close=False``)."""
    connection = b"Connection: close\r\n" if close else b""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + headers
        + f"Content-Length: {len(body)}\r\n".encode()
        + connection
        + b"\r\n"
        + body
    )


@cache
def load_script(name: str) -> ModuleType:
    """``scripts/NAME.py`` as a module (scripts/ is not a package; its modules import each other by name)."""
    scripts = str(ROOT / "scripts")
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # registered first, as an import would: its dataclasses look their module up
    sys.path.insert(0, scripts)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(scripts)
    return module


def dependency_closure(requirements: Iterable[str], environment: Mapping[str, str]) -> set[str]:
    """The distributions ``requirements`` bring in ``environment`` (markers), as installed here, canonical names.

    A requirement whose marker does not hold in ``environment`` is left out. One that holds there but is not
    installed here (``audioop-lts`` on Python 3.13, when these tests run on 3.11) counts, without its own
    dependencies.
    """
    seen: set[str] = set()
    pending = [
        requirement
        for requirement in map(Requirement, requirements)
        if requirement.marker is None or requirement.marker.evaluate({"extra": "", **environment})
    ]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dependencies = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in dependencies:
            dependency = Requirement(text)
            if dependency.marker is None or dependency.marker.evaluate({"extra": "", **environment}):
                pending.append(dependency)
    return seen


def load_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def normalise(response: dict[str, Any]) -> dict[str, Any]:
    """Replace the values that change on every mint by the placeholders the fixtures use."""
    out = json.loads(json.dumps(response))
    out["value"] = "<secret>"
    out["expires_at"] = "<expires_at>"
    out["session"]["id"] = "<session_id>"
    return out


def strip_nulls(value: Any) -> Any:
    """Production's nulls mean "not set"; the official schema wants such keys left out."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


@contextmanager
def server_thread(settings: Settings | None = None) -> Iterator[str]:
    """Serve the mock on 127.0.0.1:<free port> from a background thread; yields the base URL (…/v1)."""
    settings = settings or Settings(port=0)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = MockRunner(create_app(settings), handler_cancellation=True, **server_options())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("mock server did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{holder['port']}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class ErrorRecords(logging.Handler):
    """Collects ERROR records of the server's loggers (``mockserver``'s "unhandled error", aiohttp's)."""

    LOGGERS = ("mockserver", "aiohttp")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s: %(message)s")
        return "\n".join(formatter.format(record) for record in self.records)


@contextmanager
def server_errors() -> Iterator[ErrorRecords]:
    """ERROR records of the server's loggers while the block runs."""
    errors = ErrorRecords()
    loggers = [logging.getLogger(name) for name in ErrorRecords.LOGGERS]
    for logger in loggers:
        logger.addHandler(errors)
    try:
        yield errors
    finally:
        for logger in loggers:
            logger.removeHandler(errors)
