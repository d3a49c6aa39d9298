"""``mockserver``: argv -> Settings -> a running server. The only place argv and env are read."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .settings import Settings

# Everything else (asyncio, pydantic, aiohttp, the server's own modules) is imported inside the functions
# below, once main() has turned the collector off; `mockserver --help` stays instant too.

__all__ = ["build_parser", "main", "run", "serve"]

_EPILOG = """\
Every flag can also be set with its MOCKSERVER_* environment variable
(e.g. MOCKSERVER_PORT=9000); a flag beats the variable, the variable beats the default.
"""


def build_parser() -> argparse.ArgumentParser:
    from .settings import OPTIONS  # noqa: PLC0415 - see the imports

    parser = argparse.ArgumentParser(
        prog="mockserver",
        description="A local, offline imitation of OpenAI's POST /v1/realtime/client_secrets.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for option in OPTIONS:
        default = option.default
        shown = "unset" if default in (None, ()) else ",".join(default) if isinstance(default, tuple) else default
        parser.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.metavar or None,
            action="append" if option.repeatable else "store",
            default=None,
            help=f"{option.meaning} [env {option.env}; default: {shown}]",
        )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    from .settings import build_settings  # noqa: PLC0415 - see the imports

    args = build_parser().parse_args(argv)  # --help and --version exit here, before any heavy import
    _import_aiohttp()  # before the settings, whose checks may import it (webhooks)
    return build_settings(vars(args), environ)


async def serve(
    settings: Settings,
    *,
    ready_message: bool = True,
    worker: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then drain and stop.

    As one of ``--workers`` (``worker`` set), the port is bound with SO_REUSEPORT beside the other
    workers', and ``on_ready`` tells the parent once it listens.
    """
    import asyncio  # noqa: PLC0415 - see the imports
    import logging  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from .app import create_app  # noqa: PLC0415
    from .keys import STATE  # noqa: PLC0415
    from .logs import startup_line  # noqa: PLC0415
    from .serving import MockRunner, listening_site, server_options  # noqa: PLC0415
    from .store import StoreUnreachableError  # noqa: PLC0415

    log = logging.getLogger("mockserver")

    app = create_app(settings, worker=worker)
    seed = app[STATE].seed
    runner = MockRunner(
        app,
        handle_signals=False,
        access_log=None,  # the endpoint wrapper logs requests (at debug), without credentials
        shutdown_timeout=5.0,
        handler_cancellation=True,
        **server_options(),
    )
    try:
        await runner.setup()  # connects the store
    except StoreUnreachableError as exc:
        await runner.cleanup()
        raise SystemExit(f"mockserver: {exc}") from None
    try:
        await listening_site(runner, settings.host, settings.port, reuse_port=worker is not None).start()
    except OSError as exc:
        await runner.cleanup()
        raise SystemExit(f"mockserver: cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None

    # Everything imported and built so far lives as long as the process: move it out of the
    # collector's sight (without collecting first: start-up leaves little garbage, and a full
    # collection costs more than it frees), and collect the young generation less often (each mint
    # allocates a few dozen objects); both keep collector pauses out of the p99 latency.
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    gc.enable()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    host, port = _bound_address(runner)
    if ready_message:
        # The one start-up line: on stdout whatever the log level (scripts read the port from it), in
        # the log format, and not logged again on stderr.
        line = startup_line(
            settings.log_format, version=__version__, host=host, port=port, seed=seed, scenario=settings.scenario
        )
        print(line, flush=True)
    if on_ready is not None:
        on_ready()
    try:
        await stop.wait()
    finally:
        log.info("shutting down: draining requests in flight (up to 5 s)")
        await app[STATE].stop()
        await runner.cleanup()
        log.info("stopped")


def _bound_address(runner: object) -> tuple[str, int]:
    addresses = getattr(runner, "addresses", [])
    for address in addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            host = address[0]
            return (f"[{host}]" if ":" in host else host), int(address[1])
    return "?", 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mockserver`` console script and ``python -m mockserver``."""
    # Start-up builds objects that live as long as the process (modules, request models, the app);
    # collecting while they are built walks them again and again for nothing. serve() turns the
    # collector back on once the server listens.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _import_aiohttp() -> None:
    """Import aiohttp without reading the system's CA bundle.

    aiohttp builds two TLS client contexts when it is imported, and each reads every certificate of
    the system's bundle (``SSL_CERT_FILE``, e.g. ``/etc/ssl/certs/ca-certificates.crt``): about 0.47 G
    instructions, a quarter of the server's start-up, for contexts the server never uses. The bundle
    file is hidden from OpenSSL for the import only (the hashed directory, read lazily, stays); the one
    outbound request the server makes, a webhook, uses its own verified context (``webhooks.deliver``).
    """
    if "aiohttp" in sys.modules:
        return
    given = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = os.devnull
    try:
        import aiohttp.web  # noqa: F401, PLC0415
    finally:
        if given is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = given


def _main(argv: Sequence[str] | None) -> int:
    from .logs import configure_logging  # noqa: PLC0415
    from .settings import SettingsError  # noqa: PLC0415

    try:
        settings = settings_from(argv, os.environ)
    except SettingsError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        from .workers import run_workers  # noqa: PLC0415 - only a pool needs it

        return run_workers(settings)
    return run(settings)


def run(settings: Settings, **serving: Any) -> int:
    """Serve until stopped; the exit status (1 with one line on stderr when it cannot start)."""
    import asyncio  # noqa: PLC0415 - see the imports

    from .loops import event_loop_factory  # noqa: PLC0415
    from .settings import SettingsError  # noqa: PLC0415
    from .store import StoreUnreachableError  # noqa: PLC0415

    try:
        with asyncio.Runner(loop_factory=event_loop_factory(settings.loop)) as runner:
            runner.run(serve(settings, **serving))
    except SettingsError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 2
    except StoreUnreachableError as exc:
        print(f"mockserver: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        pass
    return 0
