"""The stack's ceiling: bare aiohttp answering a fixed JSON body, nothing else.

The body is a real minimal mint's response (about 1.5 KB, ``baseline_body.json``), so the baseline
writes as many bytes per request as the mock does.
"""

import sys
from pathlib import Path

from aiohttp import web

BODY = (Path(__file__).resolve().parent / "baseline_body.json").read_bytes()


async def mint(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_post("/v1/realtime/client_secrets", mint)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True), access_log=None)
