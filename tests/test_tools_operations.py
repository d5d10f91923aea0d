"""Operating the MCP servers: `chatlink doctor` lists each server, whether it started, and
its tools; a stdio server killed is restarted (logged once); a server that is down is left
out of the tool list while chat keeps working; the servers stop with chatlink."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_chatlink
from bot.messages import ReplyKind
from tests.fakes.mcp_tools import ToolEvents, serve_http
from tests.fakes.serve import free_port, refusing_port
from tests.fakes.tool_model import Step, call
from tests.support.people import dm, link_account_first
from tests.support.tools import KEY_ENV, STDIO_TOOLS, TIME_SERVER, tool_models, until
from tests.test_doctor import doctor, table


async def test_doctor_lists_each_server_whether_it_started_and_its_tools(tmp_path: Path) -> None:
    events = ToolEvents()
    with refusing_port() as port:
        async with serve_http(events) as url:
            servers = {
                "time": TIME_SERVER,
                "box": {"url": url, "allowed_tools": ["echo", "pid"], "admin_only": True},
                "broken": {"command": str(tmp_path / "no-such-server")},
                "gone": {"url": f"http://127.0.0.1:{port}/mcp"},
            }
            (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
            env = {"MCP_SERVERS_FILE": str(tmp_path / "mcp.json"), "LLM_PROVIDER": "echo"}
            assert (await doctor(tmp_path, {}, "migrate"))[0] == 0
            code, output = await doctor(tmp_path, env)
    rows = table(output)
    assert code == 1, output
    assert rows["mcp:time"] == (
        "pass",
        "stdio, started, 2 tools (private chats only): get_current_time, convert_time",
    )
    assert rows["mcp:box"] == ("pass", "http, started, 2 tools (admin only, private chats only): "
                               "echo, pid")  # fmt: skip
    status, detail = rows["mcp:broken"]
    assert status == "FAIL" and "stdio, did not start" in detail and "command and args" in detail
    status, detail = rows["mcp:gone"]
    assert status == "FAIL" and "http, did not start" in detail and "url and headers" in detail
    assert rows["model"][0] == "pass"


async def test_a_killed_stdio_server_is_restarted_and_chat_goes_on_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEY_ENV, "test-key")
    caplog.set_level(logging.INFO, logger="bot.tools")
    async with tool_models(tmp_path) as models:
        settings = models.settings({"proc": STDIO_TOOLS, "broken": {"command": "/no/such/cmd"}})
        async with open_chatlink(settings) as app:
            tools = app.tools
            assert tools is not None
            await link_account_first(app, "alice")
            models.openai.steps = [call("proc_pid"), Step("{result}")]
            [first] = await app.core.handle(dm("pid?"))
            pid = int(first.text)
            # A server that never starts is left out; the rest work.
            assert [t["function"]["name"] for t in models.openai.requests[0]["tools"]] == [
                "proc_echo", "proc_hang", "proc_fail", "proc_big", "proc_pid", "proc_exit",
            ]  # fmt: skip
            os.kill(pid, signal.SIGKILL)
            await until(lambda: _status(app, "proc").starts == 2 and _status(app, "proc").up)
            models.openai.steps = [call("proc_pid"), Step("{result}")]
            [second] = await app.core.handle(dm("pid now?"))
            assert second.kind is ReplyKind.MODEL and int(second.text) != pid
            # The broken one keeps being retried, quietly: its outage is logged once.
            await until(lambda: _tries(caplog, "broken") >= 1)
            assert _status(app, "broken").up is False
        # Stopped with chatlink.
        await until(lambda: not _alive(int(second.text)))
    downs = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert len([d for d in downs if "broken" in d]) == 1
    assert len([d for d in downs if "proc" in d]) == 1
    assert any("MCP server proc is back" in r.getMessage() for r in caplog.records)


async def test_an_http_server_that_goes_is_left_out_until_it_answers_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "test-key")
    port = free_port()
    events = ToolEvents()
    async with tool_models(tmp_path) as models:
        up = serve_http(events, _bound(port))
        url = await up.__aenter__()
        settings = models.settings({"box": {"url": url, "allowed_tools": ["echo"]}})
        async with open_chatlink(settings) as app:
            await link_account_first(app, "alice")
            models.openai.steps = [call("box_echo", {"text": "one"}), Step("{result}")]
            [first] = await app.core.handle(dm("echo one"))
            assert first.text == "echo: one"
            await up.__aexit__(None, None, None)
            # The call in flight when it goes: an error result, and a clear answer.
            models.openai.steps = [call("box_echo", {"text": "two"}), Step("Said: {result}")]
            [second] = await app.core.handle(dm("echo two"))
            assert second.text.startswith("Said: Error: ") and second.kind is ReplyKind.MODEL
            await until(lambda: _status(app, "box").tried and not _status(app, "box").up)
            models.openai.steps = [Step("No tools now.")]
            [third] = await app.core.handle(dm("still there?"))
            assert third.text == "No tools now." and "tools" not in models.openai.requests[-1]
            # Back on its port: offered again once it answers.
            async with serve_http(events, _bound(port)):
                await until(lambda: _status(app, "box").up, within=120)
                models.openai.steps = [call("box_echo", {"text": "three"}), Step("{result}")]
                [fourth] = await app.core.handle(dm("echo three"))
                assert fourth.text == "echo: three"
            assert models.openai.refused == []


def _bound(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _status(app: Any, name: str) -> Any:
    return next(s for s in app.tools.statuses() if s.name == name)


def _tries(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(f"MCP server {name} is down" in r.getMessage() for r in caplog.records)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to read its status.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
