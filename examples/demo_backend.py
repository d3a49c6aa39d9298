#!/usr/bin/env python3
"""The offline demo's backend: a page with two buttons, and ``POST /session`` minting an ``ek_`` key.

This is the shape of a real Realtime backend: the browser never sees the ``sk-`` key; it asks
this backend, which calls ``POST /v1/realtime/client_secrets`` with the official SDK and hands
back only the short-lived ``ek_`` key, with the URLs to use it on. The page then calls the model
itself over WebRTC (its SDP offer posted to ``calls_url`` with the key), falling back to the
Realtime WebSocket (``realtime_url``, the key riding in the ``openai-insecure-api-key.``
subprotocol as browsers must). Here the SDK's ``base_url`` points at the mock, so the whole demo runs with no
network and no API key::

    mockserver --port 8080
    python examples/demo_backend.py --mock-url http://127.0.0.1:8080/v1 --port 8000

Tests run it in-process through :func:`create_app`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from aiohttp import web
from openai import AsyncOpenAI
from yarl import URL

__all__ = ["calls_url", "create_app", "main", "realtime_url"]

#: Resolved from this file, so the script works from any working directory.
INDEX_HTML = Path(__file__).resolve().parent / "static" / "index.html"

DEFAULT_MOCK_URL = "http://127.0.0.1:8080/v1"
DEFAULT_API_KEY = "sk-demo"
DEFAULT_SECONDS = 60
MODEL = "gpt-realtime"
INSTRUCTIONS = "You are a friendly demo assistant."

#: A person is waiting on a button: fail in seconds, not after the SDK's default ten minutes.
UPSTREAM_TIMEOUT = 15.0


@dataclass(frozen=True)
class Config:
    """Where the backend mints its keys and how its SDK client behaves."""

    mock_url: str
    api_key: str
    max_retries: int


CONFIG = web.AppKey("config", Config)
CLIENT = web.AppKey("client", AsyncOpenAI)


def create_app(mock_url: str, api_key: str, *, max_retries: int = 2) -> web.Application:
    """The demo backend. ``mock_url`` is the SDK's ``base_url`` (``http://HOST:PORT/v1``).

    ``max_retries`` is the SDK's (2 by default, as in production code); tests set 0 to see
    an injected error reach the browser unretried.
    """
    app = web.Application()
    app[CONFIG] = Config(mock_url=mock_url, api_key=api_key, max_retries=max_retries)
    app.router.add_get("/", index)
    app.router.add_post("/session", create_session)
    app.cleanup_ctx.append(_openai_client)
    return app


async def _openai_client(app: web.Application) -> AsyncIterator[None]:
    """One SDK client per app, so connections are pooled across requests and closed on shutdown."""
    config = app[CONFIG]
    client = AsyncOpenAI(
        base_url=config.mock_url,
        api_key=config.api_key,
        max_retries=config.max_retries,
        timeout=UPSTREAM_TIMEOUT,
    )
    app[CLIENT] = client
    try:
        yield
    finally:
        await client.close()


def realtime_url(base_url: str, model: str) -> str:
    """The Realtime WebSocket URL for an SDK ``base_url``, as the SDK builds it.

    ``http://127.0.0.1:8080/v1`` gives ``ws://127.0.0.1:8080/v1/realtime?model=MODEL`` (``https``
    gives ``wss``). The browser connects there directly: the key is minted for it, not for us.
    """
    url = URL(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    return str(url.with_scheme(scheme).with_path(url.path.rstrip("/") + "/realtime").with_query(model=model))


def calls_url(base_url: str) -> str:
    """Where the page posts its WebRTC offer: ``http://127.0.0.1:8080/v1`` gives ``.../v1/realtime/calls``."""
    return base_url.rstrip("/") + "/realtime/calls"


async def index(request: web.Request) -> web.FileResponse:
    """The page (a single self-contained file: it works offline)."""
    return web.FileResponse(INDEX_HTML, headers={"Cache-Control": "no-store"})


async def create_session(request: web.Request) -> web.Response:
    """Mint an ``ek_`` key for the browser: ``{"seconds": N}`` in, ``value``/``expires_at``/``realtime_url``/... out."""
    try:
        seconds = await _requested_seconds(request)
    except ValueError as exc:
        return _error(400, str(exc), param="seconds", code="invalid_value")

    client = request.app[CLIENT]
    try:
        secret = await client.realtime.client_secrets.create(
            session={"type": "realtime", "model": MODEL, "instructions": INSTRUCTIONS},
            expires_after={"anchor": "created_at", "seconds": seconds},
        )
    except openai.APIStatusError as error:
        # Pass OpenAI's verdict through unchanged: same status, same error body.
        return web.json_response({"error": _error_body(error)}, status=error.status_code)
    except openai.APIConnectionError as error:
        url = request.app[CONFIG].mock_url
        return _error(502, f"Could not reach the OpenAI API at {url} ({error.message}). Is the mock running?")

    # A transcription session has no model; this backend only asks for realtime ones.
    model = getattr(secret.session, "model", None) or MODEL
    return web.json_response(
        {
            "value": secret.value,
            "expires_at": secret.expires_at,
            "session_id": secret.session.id,
            "model": model,
            # Where the page posts its WebRTC offer with the key, and its WebSocket fallback.
            "calls_url": calls_url(request.app[CONFIG].mock_url),
            "realtime_url": realtime_url(request.app[CONFIG].mock_url, model),
        }
    )


async def _requested_seconds(request: web.Request) -> int:
    """``seconds`` from the JSON body (optional; the range check is left to the API)."""
    if not request.body_exists:
        return DEFAULT_SECONDS
    try:
        body = await request.json()
    except ValueError:
        raise ValueError('The request body must be JSON, like {"seconds": 60}.') from None
    if not isinstance(body, dict):
        raise ValueError('The request body must be a JSON object, like {"seconds": 60}.')
    seconds = body.get("seconds", DEFAULT_SECONDS)
    # bool is an int in Python, but `true` is not a number of seconds.
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ValueError(f"'seconds' must be an integer, got {json.dumps(seconds)}.")
    return seconds


def _error_body(error: openai.APIStatusError) -> dict[str, Any]:
    """The ``error`` object of OpenAI's envelope (the SDK has already unwrapped it)."""
    if isinstance(error.body, dict):
        return error.body
    # Not JSON (a proxy's HTML page, say): keep OpenAI's shape so the page can show it.
    return {"message": error.message, "type": None, "param": None, "code": None}


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> web.Response:
    """An error in OpenAI's envelope, so the page handles every failure the same way."""
    body = {"message": message, "type": "invalid_request_error" if status < 500 else "server_error"}
    return web.json_response({"error": {**body, "param": param, "code": code}}, status=status)


# --- running it as a script --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="The offline demo's backend (mints ek_ keys through the mock).")
    parser.add_argument(
        "--mock-url",
        default=os.environ.get("OPENAI_BASE_URL") or DEFAULT_MOCK_URL,
        help=f"the SDK's base_url [env OPENAI_BASE_URL; default: {DEFAULT_MOCK_URL}]",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [default: 127.0.0.1]")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one [default: 8000]")
    parser.add_argument("--max-retries", type=int, default=2, help="the SDK's max_retries [default: 2]")
    return parser


async def serve(app: web.Application, host: str, port: int) -> None:
    """Listen, print the real address (``--port 0`` picks a free port), run until SIGTERM or SIGINT."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(f"demo backend: cannot listen on {host}:{port}: {exc.strerror}") from None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    # Flushed: whoever started us (a test, a script) waits for this line to learn the port.
    print(f"demo backend listening on http://{shown}:{bound_port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api_key = os.environ.get("OPENAI_API_KEY") or DEFAULT_API_KEY
    app = create_app(args.mock_url, api_key, max_retries=args.max_retries)
    asyncio.run(serve(app, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
