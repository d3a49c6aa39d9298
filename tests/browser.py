"""A headless Chromium for page tests, driven over the DevTools protocol with aiohttp (no extra packages).

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it when it is missing). It is
started so that it cannot reach beyond this machine: every host name but ``127.0.0.1`` fails to resolve, and
its background services (updates, sync, safe browsing, metrics) are off. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Browser", "browser"]

#: Every wait here ends within this many seconds.
TIMEOUT = 15.0
#: Starts of Chromium tried before a test fails for want of a browser (see ``_start``).
LAUNCHES = 2

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the test machines run as root
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-pings",
    "--dns-prefetch-disable",
    # Loopback only: no other host name resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--window-size=900,1100",
)


class Browser:
    """One page of a headless Chromium: navigate, evaluate JavaScript, wait for a condition, screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.console: list[str] = []

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are kept or dropped)."""
        command_id = next(self._ids)
        await self.ws.send_json({"id": command_id, "method": method, "params": params})
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await self.ws.receive_json()
                if message.get("method") == "Runtime.exceptionThrown":
                    details = message["params"]["exceptionDetails"]
                    self.console.append(f"exception: {details.get('exception', {}).get('description', details)}")
                if message.get("id") == command_id:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return dict(message.get("result") or {})

    async def navigate(self, url: str) -> None:
        await self.command("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        result = await self.command("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        """Poll ``expression`` until it is truthy (at most ``TIMEOUT``); its value, or an error naming it."""
        try:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.05)  # the page's state, polled: it has no event to wait on
        except TimeoutError:
            raise AssertionError(
                f"still false after {TIMEOUT:g} s: {expression}; page errors: {self.console}"
            ) from None

    async def screenshot(self) -> bytes:
        """The whole page as a PNG."""
        shot = await self.command("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(shot["data"])


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found is not None, "the page tests need Chromium: apt-get install chromium (.ci/run does it)"
    return found


def _written_port(marker: Path) -> int | None:
    text = marker.read_text() if marker.exists() else ""
    return int(text.split()[0]) if text.strip() else None


async def _debugger_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it chose for ``--remote-debugging-port=0`` into its profile."""
    async with asyncio.timeout(TIMEOUT):
        while (port := _written_port(profile / "DevToolsActivePort")) is None:
            assert process.returncode is None, f"Chromium exited with {process.returncode}"
            await asyncio.sleep(0.05)
    return port


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    """A fresh headless Chromium (its own temporary profile) with one blank page; stopped afterwards."""
    process, profile, port = await _start()
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(TIMEOUT):
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = json.loads(await response.text())
                page = next(target for target in targets if target.get("type") == "page")
                ws = await http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)
            try:
                driver = Browser(ws)
                await driver.command("Page.enable")
                await driver.command("Runtime.enable")
                yield driver
            finally:
                await ws.close()
    finally:
        await _stop(process, profile)


async def _start() -> tuple[asyncio.subprocess.Process, Path, int]:
    """Start Chromium and wait for its debugger port.

    On a loaded machine Chromium has, rarely, not come up within ``TIMEOUT`` (no ``DevToolsActivePort``
    written, before any page was opened): that is the browser's start, not what a test checks, so it is
    tried ``LAUNCHES`` times, and when none comes up the error quotes the last one's stderr.
    """
    for attempt in range(1, LAUNCHES + 1):
        profile = Path(tempfile.mkdtemp(prefix="mock-chromium-"))
        log = profile.with_name(profile.name + ".log")  # beside the profile: it outlives a failed start
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                _chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: its helpers are stopped with it
            )
        try:
            port = await _debugger_port(profile, process)
        except (TimeoutError, AssertionError) as exc:
            await _stop(process, profile)
            said = log.read_text(errors="replace")[-3000:]
            log.unlink(missing_ok=True)
            if attempt == LAUNCHES:
                why = str(exc) or f"no debugger port within {TIMEOUT:g} s"
                raise AssertionError(
                    f"Chromium did not start ({attempt} tries; {why}); its stderr ends:\n{said}"
                ) from exc
            continue
        log.unlink(missing_ok=True)
        return process, profile, port
    raise AssertionError("unreachable")  # the loop returns or raises


async def _stop(process: asyncio.subprocess.Process, profile: Path) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(TIMEOUT):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    shutil.rmtree(profile, ignore_errors=True)
