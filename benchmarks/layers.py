#!/usr/bin/env python3
"""Where a mint's time goes, measured in place: CPU per request of the mock with its layers peeled off.

    python benchmarks/layers.py               # every variant, 3 rounds of 5 s (about 2 minutes; needs wrk)
    python benchmarks/layers.py --rounds 5 --seconds 5
    python benchmarks/layers.py --only default

Each variant of the mock runs **at the same time as** the bare aiohttp baseline, both pinned to CPU 0 and
each loaded by its own ``wrk`` (32 keep-alive connections, minimal realtime body) on CPU 1: the two share
one core, so whatever the machine is doing hits both alike. Reported per variant: the CPU time (user +
system, from ``/proc``) each server spent per request, and the baseline's cost over the variant's (1.00x:
as cheap as bare aiohttp). This is steadier than comparing req/s measured one after the other.

The variants are the default ``mockserver`` with one layer after another replaced by a fixed answer (the
baseline's body), so the differences between rows are what each layer costs where it runs, with the caches
as a real load leaves them (several times what the same code costs in a hot loop):

- ``default``: ``mockserver`` as users run it (journal on).
- ``no mint handler``: the mint's own work (key, ids, plan, secret store, body) replaced by the fixed answer.
- ``no journal or faults``: also without the OpenAI-surface layer (the journal entry, the fault decision).
- ``wrapper only``: the endpoint wrapper answers at once (routing and aiohttp only): the floor.

The variants are made by this script (``--serve VARIANT``), which patches the mock before starting it
with the ``mockserver`` command's own ``main``; the mock itself has no switch for them. Written to
``benchmarks/results/layers.json`` (``--json``). Everything binds 127.0.0.1; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import MINT, ROOT, Target, side_by_side, wrk_script  # noqa: E402 - not a package

BODY = (HERE / "baseline_body.json").read_bytes()
VARIANTS = ("default", "no mint handler", "no journal or faults", "wrapper only")


def serve(variant: str, argv: list[str]) -> int:
    """Run the mock with ``variant``'s layers replaced by the fixed answer (before its routes are built)."""
    from aiohttp import web  # noqa: PLC0415
    from aiohttp.typedefs import Handler  # noqa: PLC0415

    from mockserver import middleware  # noqa: PLC0415
    from mockserver.handlers import openai  # noqa: PLC0415

    # What is patched must exist, or a renamed function would leave a variant measuring the default.
    for module, name in ((openai, "create_client_secret"), (middleware, "_surface"), (middleware, "_serve")):
        if not callable(getattr(module, name, None)):
            raise SystemExit(f"layers.py: {module.__name__}.{name} is gone; update the variants")

    async def fixed(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=BODY, content_type="application/json")

    if variant in ("no mint handler", "no journal or faults"):
        openai.create_client_secret = fixed
    if variant == "no journal or faults":

        async def surface(
            request: web.Request, state: Any, handler: Handler, request_id: str, started: float
        ) -> web.StreamResponse:
            return await handler(request)

        middleware._surface = surface
    if variant == "wrapper only":
        original = middleware._serve

        async def wrapper(*route: Any) -> web.StreamResponse:
            request = route[-1]  # after the route's bound arguments (methods, missing, control)
            if request.path == MINT:
                return await fixed(request)
            return await original(*route)

        middleware._serve = wrapper  # type: ignore[assignment]
    from mockserver.cli import main  # noqa: PLC0415 - after the patches

    return main(argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="loads per variant (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load (default 5)")
    parser.add_argument("--only", action="append", choices=VARIANTS, help="measure only these variants")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "layers.json")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.serve:
        return serve(args.serve, rest)
    if shutil.which("wrk") is None:
        print("skipped: wrk not found (apt-get install wrk)")
        return 0
    results = []
    with wrk_script() as script:
        for variant in args.only or VARIANTS:
            target = Target(variant, (sys.executable, str(HERE / "layers.py"), "--serve", variant))
            results.append({"variant": variant, **side_by_side(target, args.rounds, args.seconds, script)})
    print(f"{'variant':<24} {'baseline us/req':>16} {'mock us/req':>12} {'baseline/mock':>14}   rounds")
    for row in results:
        rounds = " ".join(f"{r:.2f}" for r in row["rounds"])
        print(
            f"{row['variant']:<24} {row['baseline_us_per_request']:>16} {row['mock_us_per_request']:>12} "
            f"{row['baseline_over_mock']:>13.2f}x   {rounds}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"tree": str(ROOT), "results": results}, indent=2) + "\n")
    print(
        f"(both servers on CPU 0 at once, a wrk each on CPU 1, -c32, {args.seconds:g} s x {args.rounds}; {args.json})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
