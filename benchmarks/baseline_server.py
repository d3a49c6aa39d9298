"""The stack's ceiling: bare aiohttp answering a fixed JSON body, nothing else."""

import sys

from aiohttp import web

BODY = b'{"value": "ek_00000000000000000000000000000000", "expires_at": 0, "session": {"type": "realtime"}}'


async def mint(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_post("/v1/realtime/client_secrets", mint)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True), access_log=None)
