"""The Discord door against a gateway and REST stand-in on 127.0.0.1, driven by discord.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_bot import DiscordDoor
from bot.app import Chatlink, open_chatlink
from bot.delivery import split_text, utf16_length
from bot.messages import Platform
from storage import Account
from tests.fakes.discord_api import CHANNEL_ID, GUILD_ID, TOKEN, FakeDiscord
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.serve import serve
from tests.fakes.slow_model import SlowStream
from tests.support.people import dm
from tests.support.settings import PASSWORD, FakeClock, make_settings

EPHEMERAL = 64


@pytest.fixture
async def discord_server() -> AsyncIterator[tuple[FakeDiscord, str]]:
    fake = FakeDiscord()
    async with serve(fake.app()) as url:
        yield fake, url


def discord_settings(tmp_path: Path, url: str, **extra: Any) -> Any:
    return make_settings(
        tmp_path,
        discord_bot_token=TOKEN,
        discord_api_base_url=f"{url}/api/v10",
        discord_gateway_url=url.replace("http://", "ws://") + "/gateway",
        **extra,
    )


async def link_alice(fake: FakeDiscord, app: Chatlink) -> Account:
    """Register alice and link the stand-in's default user to her with `/link code:`."""
    alice = await app.accounts.register("alice", PASSWORD)
    await fake.command("link", {"code": (await app.links.issue_for_account(alice.id)).code})
    await fake.wait_for(1)
    return alice


@pytest.fixture
async def running(
    discord_server: tuple[FakeDiscord, str],
    tmp_path: Path,
    clock: FakeClock,
    scripted: ScriptedModel,
) -> AsyncIterator[tuple[FakeDiscord, Chatlink]]:
    fake, url = discord_server
    settings = discord_settings(tmp_path, url)
    async with open_chatlink(settings, clock=clock, provider=scripted) as app:
        door = DiscordDoor(app)
        await door.start()
        await fake.wait_connected()
        try:
            yield fake, app
        finally:
            await door.stop()


def flags(call: Any) -> int:
    return int((call.body or {}).get("flags") or 0)


async def test_commands_are_synced_with_their_options(
    running: tuple[FakeDiscord, Chatlink],
) -> None:
    fake, _ = running
    [sync] = fake.calls_to("PUT", "/commands")
    assert sync.path == "applications/4242/commands"  # global without DISCORD_GUILD_IDS
    by_name = {c["name"]: c for c in sync.body}
    assert sorted(by_name) == [
        "chat", "forget", "help", "link", "model", "persona", "reset", "retry", "stop",
        "system", "tools", "undo", "unlink", "usage", "whoami",
    ]  # fmt: skip
    [message] = by_name["chat"]["options"]
    assert (message["name"], message["type"], message["required"]) == ("message", 3, True)
    [code] = by_name["link"]["options"]
    assert (code["name"], code.get("required", False)) == ("code", False)
    for name in ("model", "persona"):  # names offered as the person types
        [option] = by_name[name]["options"]
        assert option["name"] == "name" and option["autocomplete"] is True, option
    assert not fake.content_intent  # the privileged intent is only asked for when configured


async def test_guild_sync_and_content_intent(
    discord_server: tuple[FakeDiscord, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = discord_server
    settings = discord_settings(
        tmp_path, url, discord_guild_ids=[GUILD_ID], discord_message_content=True
    )
    async with open_chatlink(settings, clock=clock) as app:
        door = DiscordDoor(app)
        await door.start()
        try:
            await fake.wait_connected()
            syncs = fake.calls_to("PUT", "/commands")
            assert [c.path for c in syncs] == [
                f"applications/4242/guilds/{GUILD_ID}/commands",
                "applications/4242/commands",
            ]
            assert len(syncs[0].body) == 15 and syncs[1].body == []  # no duplicates left global
            assert fake.content_intent
            await fake.command("help")  # found through data.guild_id, as Discord sends it
            [answer] = await fake.wait_for(1)
            assert "/link" in answer.body["content"] and flags(answer) & EPHEMERAL
        finally:
            await door.stop()


async def test_slash_flow_link_chat_reset(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    await fake.command("chat", {"message": "hello"})
    [instructions] = await fake.wait_for(1)
    assert "/link" in instructions.body["content"] and flags(instructions) & EPHEMERAL
    assert fake.calls_to("DELETE", "messages/@original")  # the public "thinking" went away
    [defer] = fake.calls_to("POST", "/callback")
    assert defer.body["type"] == 5  # deferred at once

    await fake.command("link")
    code_message = (await fake.wait_for(2))[-1]
    assert flags(code_message) & EPHEMERAL
    code = code_message.body["content"].split()[-1]
    done = await app.links.complete_with_registration(code, "alice", PASSWORD)
    assert done.identity.platform == "discord"
    confirmation = (await fake.wait_for(3))[-1]
    assert (
        confirmation.path.startswith("channels/")
        and "linked to account alice" in confirmation.body["content"]
    )

    await fake.command("chat", {"message": "I like green tea"})
    await fake.wait_for(4)
    await fake.command("chat", {"message": "what do I like?"})
    reply = (await fake.wait_for(5))[-1]
    assert 'you said: "I like green tea"' in reply.body["content"]
    assert not flags(reply) & EPHEMERAL  # /chat answers publicly
    assert reply.body["allowed_mentions"] == {"parse": []}

    await fake.command("reset")
    reset = (await fake.wait_for(6))[-1]
    assert "forgot this group conversation" in reset.body["content"] and flags(reset) & EPHEMERAL


async def test_account_first_code_with_link_option(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    await fake.command("link", {"code": code}, author_id=3003, author_name="al")
    [answer] = await fake.wait_for(1)
    assert "account alice" in answer.body["content"] and flags(answer) & EPHEMERAL
    identity = await app.accounts.store.identity("discord", "3003")
    assert identity is not None and identity.account_id == alice.id


async def test_dm_mention_and_unaddressed(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    await link_alice(fake, app)

    await fake.message("hello in a DM")
    dm_reply = (await fake.wait_for(2))[-1]
    assert dm_reply.path == f"channels/{fake.dm_channel_id(1001)}/messages"
    assert dm_reply.body["content"].startswith("Echo: hello in a DM")

    await fake.message("people talking", guild=True)
    await fake.message("from another bot <@4242>", guild=True, author_bot=True, mentions_bot=True)
    await fake.message("<@4242> are you there?", guild=True, mentions_bot=True)
    mention_reply = (await fake.wait_for(3))[-1]
    assert mention_reply.body["content"].startswith("Echo: are you there?")
    assert "start of our conversation" in mention_reply.body["content"]  # the guild thread
    assert mention_reply.body["message_reference"]["message_id"]
    # The mention came after them and is answered: they had their turn.
    assert len(fake.sent()) == 3  # the unaddressed and bot messages got nothing


async def test_model_output_never_pings(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    await link_alice(fake, app)
    await fake.command("chat", {"message": "@everyone look <@123> and <@&77>"})
    await fake.message("<@4242> @here too", guild=True, mentions_bot=True)
    calls = await fake.wait_for(3)
    for call in calls[1:]:
        allowed = call.body["allowed_mentions"]
        assert allowed["parse"] == [] and not allowed.get("users") and not allowed.get("roles")
        assert not allowed.get("replied_user")
    texts = " ".join(c.body["content"] for c in calls[1:])
    assert "@everyone" in texts and "<@123>" in texts and "@here" in texts


async def test_long_reply_in_three_messages(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    text = ("Discord counts to two thousand. " * 20 + "\n") * 7
    text = text[:4400]
    await fake.command("chat", {"message": text})
    parts = [c.body["content"] for c in (await fake.wait_for(4))[1:]]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    thread = await app.core.memory.thread(alice.id, f"discord:{CHANNEL_ID}")
    stored = await app.core.memory.store.recent(thread, 1)
    assert "".join(parts) == stored[0].content


async def test_slow_provider_still_answers(
    running: tuple[FakeDiscord, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    await link_alice(fake, app)
    scripted.plans.append(SlowStream(["worth the wait"], delay=5))
    interaction = await fake.command("chat", {"message": "take your time"})
    # The reply takes 5 s: a defer seen inside Discord's 3 s was not waiting for it.
    await fake.until(
        lambda: any(interaction in c.path for c in fake.calls_to("POST", "/callback")), 2.5
    )
    [defer] = [c for c in fake.calls_to("POST", "/callback") if interaction in c.path]
    assert defer.body["type"] == 5  # acknowledged well inside Discord's 3 seconds
    await fake.wait_for(2, within=20)
    # The reply came in one piece, so it streamed for no time: its followup shows it whole
    # at once (a live reply edits only what streamed for EDIT_EVERY_S).
    assert "worth the wait" in fake.texts()
    assert not [e for e in fake.edits() if e.body.get("content") != "worth the wait"]


async def test_one_private_thread_across_telegram_and_discord(
    running: tuple[FakeDiscord, Chatlink],
) -> None:
    fake, app = running
    alice = await app.accounts.register("alice", PASSWORD)
    [linked] = await app.core.handle(
        dm(f"/link {(await app.links.issue_for_account(alice.id)).code}")
    )
    assert "alice" in linked.text
    await app.core.handle(dm("said on telegram", "1001", Platform.TELEGRAM))
    await fake.command(
        "link", {"code": (await app.links.issue_for_account(alice.id)).code}, guild=False
    )
    await fake.wait_for(1)
    await fake.message("and now on discord")
    reply = (await fake.wait_for(2))[-1]
    assert 'you said: "said on telegram"' in reply.body["content"]


async def test_failures_apologise_and_rate_limits_are_waited_out(
    running: tuple[FakeDiscord, Chatlink], caplog: pytest.LogCaptureFixture
) -> None:
    fake, app = running
    fake.fail_next.append(
        ("webhooks/", 429, {"message": "slow down", "retry_after": 0.3, "global": False})
    )
    await fake.command("help")
    [answer] = await fake.wait_for(1)
    assert "/link" in answer.body["content"]
    # /help's Markdown as Discord draws it: its table becomes a fenced block.
    assert "```\nCommand" in answer.body["content"] and "|---|" not in answer.body["content"]
    assert len(fake.calls_to("POST", "webhooks/")) == 2  # the 429, then the retry

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom")

    app.core.handle = broken  # type: ignore[method-assign]
    interaction = await fake.command("whoami")
    apology = (await fake.wait_for(2))[-1]
    assert apology.body["content"].startswith("Sorry") and flags(apology) & EPHEMERAL
    assert f"interaction_id={interaction}" in caplog.text
    await fake.message("attachment only", attachments=[])
    assert "Sorry" in (await fake.wait_for(3))[-1].body["content"]  # the client keeps running


async def test_non_text_dm(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, _ = running
    # A file outside DISCORD_CDN_HOSTS: never fetched, and said so.
    image = {"id": "1", "filename": "cat.png", "size": 10, "url": "http://x/cat.png",
             "proxy_url": "http://x/cat.png"}  # fmt: skip
    await fake.message("", attachments=[image])
    assert "can't download that file" in (await fake.wait_for(1))[-1].body["content"]


async def test_chat_failure_apologises_privately(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom")

    app.core.handle = broken  # type: ignore[method-assign]
    await fake.command("chat", {"message": "hi"})
    [apology] = await fake.wait_for(1)
    assert apology.body["content"].startswith("Sorry") and flags(apology) & EPHEMERAL
    assert fake.calls_to("DELETE", "messages/@original")  # not left in the public message


async def test_notice_after_a_public_reply_stays_private(
    running: tuple[FakeDiscord, Chatlink],
) -> None:
    fake, app = running
    await link_alice(fake, app)
    # m0, r0, m1, r1 fit; the third message (five with it) is the first to trim the context
    app.core.memory.max_messages = 4
    for n in range(3):
        await fake.command("chat", {"message": f"m{n}"})
        await fake.wait_for(2 + n)
    notice = (await fake.wait_for(5))[-1]
    answer = fake.sent()[-2]
    assert answer.body["content"].startswith("Echo: m2") and not flags(answer) & EPHEMERAL
    assert "no longer in my context" in notice.body["content"] and flags(notice) & EPHEMERAL
    assert not fake.calls_to("DELETE", "messages/@original")


async def test_commands_of_one_person_keep_their_order(
    running: tuple[FakeDiscord, Chatlink],
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    fake.slow_callbacks = 1  # the first defer takes 0.5 s to be acknowledged
    await fake.command("chat", {"message": "FIRST"})
    await fake.command("chat", {"message": "SECOND"})
    await fake.wait_for(3)
    thread = await app.core.memory.thread(alice.id, f"discord:{CHANNEL_ID}")
    stored = await app.core.memory.store.recent(thread, 10)
    assert [m.content for m in stored if m.role == "user"] == ["FIRST", "SECOND"]


async def test_chat_reply_streams_as_followup_edits(
    running: tuple[FakeDiscord, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    await link_alice(fake, app)
    pieces = ["Streaming ", "answers ", "arrive ", "bit ", "by ", "bit."]
    scripted.plans.append(SlowStream(pieces, delay=0.6))
    await fake.command("chat", {"message": "stream it"})
    await fake.wait_for(2)
    await fake.until(
        lambda: bool(fake.edits()) and fake.edits()[-1].body["content"] == "".join(pieces), 10
    )
    edits = fake.edits()
    assert 1 <= len(edits) <= 4 and edits[-1].body["content"] == "".join(pieces)
    assert all(e.path.startswith("webhooks/") for e in edits)
    assert all(e.body["allowed_mentions"]["parse"] == [] for e in edits)
    assert len(fake.sent()) == 2  # one followup, edited as it grew
    assert not flags(fake.sent()[-1]) & EPHEMERAL


async def test_dm_reply_streams_as_message_edits(
    running: tuple[FakeDiscord, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    await link_alice(fake, app)
    pieces = ["One ", "two ", "three ", "four."]
    scripted.plans.append(SlowStream(pieces, delay=0.6))
    await fake.message("count for me")
    await fake.wait_for(2)
    await fake.until(
        lambda: bool(fake.edits()) and fake.edits()[-1].body["content"] == "".join(pieces), 10
    )
    assert fake.edits()[-1].path.startswith(f"channels/{fake.dm_channel_id(1001)}/messages/")
    assert fake.edits()[-1].body["content"] == "".join(pieces)


async def test_a_replica_runs_its_share_of_shards(
    discord_server: tuple[FakeDiscord, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = discord_server
    settings = discord_settings(tmp_path, url, discord_shard_count=4, discord_shard_ids=[2])
    async with open_chatlink(settings, clock=clock) as app:
        door = DiscordDoor(app)
        await door.start()
        try:
            await fake.wait_connected()
            assert fake.identify is not None and fake.identify["shard"] == [2, 4]
        finally:
            await door.stop()


def test_shard_ids_need_a_count_that_covers_them(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"):
        make_settings(tmp_path, discord_shard_ids=[1])
    with pytest.raises(ValidationError, match="between 0 and 1"):
        make_settings(tmp_path, discord_shard_count=2, discord_shard_ids=[2])


async def test_allowed_guilds(
    discord_server: tuple[FakeDiscord, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = discord_server
    settings = discord_settings(tmp_path, url, discord_allowed_guilds=[GUILD_ID + 1])
    async with open_chatlink(settings, clock=clock) as app:
        door = DiscordDoor(app)
        await door.start()
        try:
            await fake.wait_connected()
            await fake.command("chat", {"message": "hello"})
            [answer] = await fake.wait_for(1)
            assert answer.body["content"] == "I am not enabled in this server or group."
            assert flags(answer) & EPHEMERAL
            await fake.message("<@4242> hi", guild=True, mentions_bot=True)
            await fake.command("help", guild=False)  # DMs keep working
            # The DM came after the guild message and is answered: that one had its turn.
            assert "/link" in (await fake.wait_for(2))[-1].body["content"]
            assert len(fake.sent()) == 2
        finally:
            await door.stop()


async def test_disabled_account_on_discord(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    await app.admin.set_disabled("cli", "alice", True)
    await fake.message("hello?")
    await fake.command("chat", {"message": "anyone?"})
    texts = [c.body["content"] for c in (await fake.wait_for(3))[1:]]
    assert all("disabled" in text for text in texts)
    assert await app.core.memory.count(alice.id) == 0


async def test_dm_messages_are_answered_and_shown_in_order(
    running: tuple[FakeDiscord, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    pieces = ["A" * 1500, "B" * 1500, "C" * 1500]  # a reply of three messages
    scripted.default = SlowStream(pieces, delay=0.05)
    for text in ("one", "two", "three"):
        await fake.message(text)
    await fake.wait_for(1 + 9)
    channel = f"channels/{fake.dm_channel_id(1001)}/"
    shown = [
        "typing" if c.path.endswith("/typing") else c.body["content"]
        for c in fake.calls
        if c.method == "POST" and c.path.startswith(channel)
    ]
    # one message at a time: the next is not even begun (typing) before the last part is out
    assert shown == ["typing", *split_text("".join(pieces), 2000, utf16_length)] * 3
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 10)
    assert [m.content for m in stored if m.role == "user"] == ["one", "two", "three"]


async def test_thread_controls_as_slash_commands(running: tuple[FakeDiscord, Chatlink]) -> None:
    fake, app = running
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    await fake.command("link", {"code": code}, guild=False)
    await fake.wait_for(1)
    await fake.command("model", {"name": "nonsense"}, guild=False)
    refused = (await fake.wait_for(2))[-1]
    assert (
        "no model 'nonsense'" in refused.body["content"]
        and "Models: echo" in refused.body["content"]
    )
    await fake.command("model", guild=False)
    listing = (await fake.wait_for(3))[-1]
    assert "echo" in listing.body["content"] and "(current)" in listing.body["content"]
    await fake.command("usage", guild=False)
    usage = (await fake.wait_for(4))[-1]
    assert "Tokens today: 0." in usage.body["content"] and flags(usage) & EPHEMERAL


async def test_model_and_persona_names_are_autocompleted(
    running: tuple[FakeDiscord, Chatlink],
) -> None:
    fake, _ = running
    interaction = await fake.autocomplete("persona", "name", "O")
    assert await fake.until(lambda: bool(fake.calls_to("POST", f"{interaction}/")))
    [callback] = fake.calls_to("POST", f"interactions/{interaction}/")
    assert callback.body["type"] == 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
    assert callback.body["data"]["choices"] == [{"name": "off", "value": "off"}]
    interaction = await fake.autocomplete("model", "name", "ec")
    assert await fake.until(lambda: bool(fake.calls_to("POST", f"interactions/{interaction}/")))
    [callback] = fake.calls_to("POST", f"interactions/{interaction}/")
    assert callback.body["data"]["choices"] == [{"name": "echo", "value": "echo"}]
