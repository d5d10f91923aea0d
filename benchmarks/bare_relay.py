"""The floor for benchmarks/streaming.py: the same WebSocket exchange with nothing of chatlink's.

    .venv/bin/python benchmarks/bare_relay.py PORT MODEL_URL PROBE_FILE

A bare relay on uvicorn, configured as chatlink's web door is (no per-message deflate, no
logs): a WebSocket at /api/ws takes a message, asks the model stand-in for it through aiohttp,
cuts the events from the body as it arrives and sends the text so far as chunk frames, the
first at once and then at most every PROGRESS_EVERY_S as chatlink does, then the whole reply.
No account, no database, no history, no rendering: what any Python server doing this
exchange on one event loop costs here. The garbage collector is tuned as chatlink's, and
streaming.py's lag probe runs in it; streaming.py starts it (its own process) and drives it
with the same clients as chatlink.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import aiohttp  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402

from adapters.cli.main import settle_collector  # noqa: E402
from benchmarks.streaming import LagProbe, read_bare  # noqa: E402
from bot.live_progress import PROGRESS_EVERY_S  # noqa: E402


def relay_app(model: str, probe: LagProbe) -> Starlette:
    http: dict[str, aiohttp.ClientSession] = {}

    async def relay(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                text = json.loads(await websocket.receive_text())["message"]
                reply, shown, shown_at = "", 0, 0.0
                async for reply in read_bare(http["model"], f"{model}/v1", text):
                    now = time.monotonic()
                    due = not shown or now - shown_at >= PROGRESS_EVERY_S
                    if len(reply) > shown and due:
                        await websocket.send_json({"type": "chunk", "text": reply[shown:]})
                        shown, shown_at = len(reply), now
                await websocket.send_json({"type": "reply", "text": reply})
        except WebSocketDisconnect:
            return

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=1000)
        http["model"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        settle_collector()  # as `chatlink run` has it
        await probe.start()
        yield
        await probe.stop()
        await http["model"].close()

    routes = [Route("/healthz", healthz), WebSocketRoute("/api/ws", relay)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    port, model, probe_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(
        relay_app(model, LagProbe(Path(probe_file))), host="127.0.0.1", port=port,
        log_config=None, log_level="warning", ws_per_message_deflate=False,
        server_header=False, backlog=2048,
    )  # fmt: skip


if __name__ == "__main__":
    main()
