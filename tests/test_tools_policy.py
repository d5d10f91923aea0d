"""Who is offered which tools: `admin_only`, `allowed_tools` and `groups` (default: private
chats only), checked in what the model stand-in received; /tools lists the same; the echo
provider's `demo tool`; MCP_SERVERS_FILE's format and ${VAR}."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Chatlink, open_chatlink
from bot.errors import ConfigError
from bot.messages import ReplyKind
from bot.tools import load_servers
from tests.fakes.mcp_tools import ToolEvents, serve_http
from tests.fakes.tool_model import Step, call, tool_results
from tests.support.people import dm, group, link_account_first
from tests.support.settings import make_settings
from tests.support.tools import KEY_ENV, TIME_SERVER, ToolModels, tool_models


@pytest.fixture
async def app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Chatlink, ToolModels, ToolEvents]]:
    monkeypatch.setenv(KEY_ENV, "test-key")
    events = ToolEvents()
    async with tool_models(tmp_path) as models, serve_http(events) as url:
        servers: dict[str, Any] = {
            "open": {"url": url, "allowed_tools": ["echo", "pid"]},
            "admin": {"url": url, "admin_only": True, "allowed_tools": ["big"]},
            "team": {"url": url, "groups": True, "allowed_tools": ["fail"]},
        }
        async with open_chatlink(models.settings(servers)) as opened:
            await link_account_first(opened, "alice")
            yield opened, models, events


def _offered(body: dict[str, Any]) -> list[str]:
    return sorted(t["function"]["name"] for t in body.get("tools", []))


async def test_each_person_and_chat_is_offered_only_what_the_policy_allows(
    app: tuple[Chatlink, ToolModels, ToolEvents],
) -> None:
    chatlink, models, events = app
    model = models.openai
    model.steps = [Step("hi")]
    await chatlink.core.handle(dm("hello"))
    assert _offered(model.requests[-1]) == ["open_echo", "open_pid", "team_fail"]
    # Not offered is not callable either: the model naming it gets an error result.
    model.steps = [call("admin_big"), Step("{result}")]
    [reply] = await chatlink.core.handle(dm("get the big one"))
    assert "There is no tool named 'admin_big' here" in reply.text
    assert "big" not in events.calls
    # In a group, only the server that allows groups.
    model.steps = [Step("hi group")]
    await chatlink.core.handle(group("hello group"))
    assert _offered(model.requests[-1]) == ["team_fail"]
    # An admin gets the admin-only server too.
    await chatlink.admin.set_admin("test", "alice", True)
    model.steps = [Step("hi admin")]
    await chatlink.core.handle(dm("hello again"))
    assert _offered(model.requests[-1]) == ["admin_big", "open_echo", "open_pid", "team_fail"]
    model.steps = [call("admin_big"), Step("got {result}")]
    [reply] = await chatlink.core.handle(dm("now the big one"))
    assert reply.text.startswith("got BBBB") and "big" in events.calls
    assert model.refused == []


async def test_a_model_not_marked_for_tools_is_offered_none(
    app: tuple[Chatlink, ToolModels, ToolEvents],
) -> None:
    chatlink, models, _ = app
    await chatlink.core.handle(dm("/model plain"))
    await chatlink.core.handle(dm("hello"))
    assert "tools" not in models.openai.requests[-1]
    [listing] = await chatlink.core.handle(dm("/tools"))
    assert "plain, does not call tools" in listing.text


async def test_the_tools_command_lists_what_this_person_may_use_here(
    app: tuple[Chatlink, ToolModels, ToolEvents],
) -> None:
    chatlink, _, _ = app
    [private] = await chatlink.core.handle(dm("/tools"))
    assert private.text.splitlines() == [
        "Tools you may use here:",
        "• open.echo: Say the text back.",
        "• open.pid: The server's process id.",
        "• team.fail: Always fails.",
    ]
    [in_group] = await chatlink.core.handle(group("/tools"))
    assert "team.fail" in in_group.text and "open.echo" not in in_group.text
    assert in_group.private  # shown to the sender only, like /usage
    await chatlink.admin.set_admin("test", "alice", True)
    [admin] = await chatlink.core.handle(dm("/tools"))
    assert "admin.big: A megabyte of text." in admin.text
    [unlinked] = await chatlink.core.handle(dm("/tools", user_id="999"))
    assert unlinked.kind is ReplyKind.REJECTED
    [helped] = await chatlink.core.handle(dm("/help"))
    assert "/tools" in helped.text


async def test_the_echo_provider_drives_a_tool_with_demo_tool(tmp_path: Path) -> None:
    servers = tmp_path / "mcp.json"
    servers.write_text(json.dumps({"mcpServers": {"time": TIME_SERVER}}))
    settings = make_settings(tmp_path, mcp_servers_file=str(servers), llm_tools=True)
    async with open_chatlink(settings) as chatlink:
        await link_account_first(chatlink, "alice")
        ask = 'demo tool time.get_current_time {"timezone": "Europe/Paris"}'
        [reply] = await chatlink.core.handle(dm(ask))
        assert reply.text.startswith("time.get_current_time answered:")
        assert '"timezone": "Europe/Paris"' in reply.text
        [bad] = await chatlink.core.handle(dm("demo tool time.get_current_time {}"))
        assert bad.text.startswith("time.get_current_time failed:")
        [missing] = await chatlink.core.handle(dm("demo tool nothing.here {}"))
        assert missing.text.startswith("nothing.here failed: There is no tool named")
        [normal] = await chatlink.core.handle(dm("just chatting"))
        assert normal.text.startswith("Echo: just chatting")
    # Without LLM_TOOLS, the echo model says how to turn tools on.
    plain = make_settings(tmp_path, mcp_servers_file=str(servers))
    async with open_chatlink(plain) as chatlink:
        [off] = await chatlink.core.handle(dm("demo tool time.get_current_time {}"))
        assert "Tools are off for this model" in off.text


def test_the_servers_file_expands_variables_and_refuses_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    entry = {
        "url": "https://${HOST}/mcp",
        "headers": {"Authorization": "Bearer ${TOKEN}"},
        "allowed_tools": ["search"],
        "timeout_s": 5,
    }
    path.write_text(json.dumps({"mcpServers": {"search": entry, "time": TIME_SERVER}}))
    search, time = load_servers(path, {"HOST": "example.org", "TOKEN": "t0k"})
    assert search.url == "https://example.org/mcp"
    assert search.headers == {"Authorization": "Bearer t0k"}
    assert search.allowed_tools == {"search"} and search.timeout_s == 5
    assert not search.groups and not search.admin_only and search.transport == "http"
    assert time.transport == "stdio" and time.args == ("--local-timezone", "UTC")
    assert "t0k" not in repr(search)
    with pytest.raises(ConfigError, match="the variable TOKEN is not set"):
        load_servers(path, {"HOST": "example.org"})
    for bad, message in [
        ("{", "bad JSON"),
        ("[]", 'no "mcpServers" object'),
        ('{"mcpServers": {"x": {}}}', "give either command"),
        ('{"mcpServers": {"x": {"command": "a", "url": "http://b"}}}', "give either command"),
        ('{"mcpServers": {"x": {"url": "ftp://b"}}}', "must start with http"),
        ('{"mcpServers": {"x": {"command": "a", "groups": "yes"}}}', "groups must be a boolean"),
        ('{"mcpServers": {"x": {"command": "a", "color": 1}}}', "unknown field 'color'"),
        ('{"mcpServers": {"a b": {"command": "a"}}}', "a name is 1-24 characters"),
        ('{"mcpServers": {"x": {"command": "a", "timeout_s": 0}}}', "timeout_s must be"),
    ]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            load_servers(path, {})


async def test_a_bad_servers_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"x": {"command": "${NOPE_NOT_SET}"}}}')
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        async with open_chatlink(make_settings(tmp_path, mcp_servers_file=str(path))):
            pass


async def test_tool_results_are_counted_and_never_logged(
    app: tuple[Chatlink, ToolModels, ToolEvents], caplog: pytest.LogCaptureFixture
) -> None:
    chatlink, models, _ = app
    caplog.set_level("INFO")
    models.openai.steps = [call("open_echo", {"text": "my secret diary"}), Step("{result}")]
    [reply] = await chatlink.core.handle(dm("Echo this"))
    assert reply.text == "echo: my secret diary"
    assert tool_results(models.openai.requests[-1])[0]["content"] == "echo: my secret diary"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= 20)
    assert "tool call: account_id=" in logged and "server=open tool=echo outcome=ok" in logged
    assert "secret diary" not in logged
