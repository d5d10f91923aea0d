"""The web chat's live reply with tools: the status line streams in `chunk` frames (the live
text only grows), and the `reply` frame, what is stored, holds the model's text alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.settings import Settings
from tests.support.settings import make_settings
from tests.support.tools import TIME_SERVER
from tests.test_web_api import bearer, register

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    servers = tmp_path / "mcp.json"
    servers.write_text(json.dumps({"mcpServers": {"time": TIME_SERVER}}))
    return make_settings(
        tmp_path, database_url=database_url, mcp_servers_file=str(servers), llm_tools=True
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Chatlink]:
    async with open_chatlink(settings) as chatlink:  # the echo model, which can drive a tool
        yield chatlink


async def test_status_line_streams_and_the_reply_holds_only_the_answer(
    http: httpx.AsyncClient, web: WebDoor
) -> None:
    await register(http)
    auth = await bearer(http)
    async with connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=auth) as socket:
        ask = 'demo tool time.get_current_time {"timezone": "Europe/Paris"}'
        await socket.send(json.dumps({"message": ask}))
        chunks: list[str] = []
        while (frame := json.loads(await socket.recv()))["type"] == "chunk":
            chunks.append(frame["text"])
        streamed = "".join(chunks)
        assert streamed.startswith("_using time.get_current_time…_\n\n")
        assert frame["type"] == "reply" and frame["kind"] == "model"
        assert frame["text"].startswith("time.get_current_time answered:")
        assert "Europe/Paris" in frame["text"] and "_using" not in frame["text"]
        assert streamed.endswith(frame["text"])
    page = (await http.get("/api/history", headers=auth)).json()
    assert [(m["role"], m["content"]) for m in page["messages"]] == [
        ("user", ask),
        ("assistant", frame["text"]),
    ]
