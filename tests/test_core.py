"""The core: commands on every platform, memory threads, input limits, ordering."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import Chatlink, open_chatlink
from bot.conversation.commands import parse_command
from bot.messages import Platform, ReplyKind
from bot.providers.base import Turn, Usage
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.support.people import dm, group, link_account_first
from tests.support.settings import PASSWORD, FakeClock, make_settings

# The storage and core suites run on SQLite and on PostgreSQL (see conftest).
ON_BOTH_DATABASES = True


@pytest.mark.parametrize(
    ("text", "name", "args", "target"),
    [
        ("/start", "start", "", None),
        ("/START abc", "start", "abc", None),
        ("/link@chatlink_bot CODE-123", "link", "CODE-123", "chatlink_bot"),
        ("  /reset  ", "reset", "", None),
        ("/whoami@Other_Bot", "whoami", "", "Other_Bot"),
        ("/help\nmore lines", "help", "more lines", None),
    ],
)
def test_parse_command(text: str, name: str, args: str, target: str | None) -> None:
    command = parse_command(text)
    assert command is not None
    assert (command.name, command.args, command.target) == (name, args, target)


@pytest.mark.parametrize("text", ["hello", "/", "a /link", "//link", "/link-me", "/ link"])
def test_not_commands(text: str) -> None:
    assert parse_command(text) is None


async def test_unlinked_sender_gets_instructions_not_a_model_reply(app: Chatlink) -> None:
    replies = await app.core.handle(dm("hello"))
    assert len(replies) == 1 and "/link" in replies[0].text
    assert "Echo" not in replies[0].text
    assert "password" in replies[0].text.lower()  # says where (not) to type it
    assert await app.core.memory.store.count() == 0


async def test_chat_first_link_through_the_core(app: Chatlink) -> None:
    [reply] = await app.core.handle(dm("/link", "1001", display_name="Alice A."))
    assert reply.private
    code = reply.text.split()[-1]
    assert f"{app.settings.public_url}/link/{code}" in reply.text
    request = await app.links.describe_chat_request(code)
    assert request.display_name == "Alice A."
    done = await app.links.complete_with_registration(code, "alice", PASSWORD)
    assert done.chat_id == "1001"
    [whoami] = await app.core.handle(dm("/whoami"))
    assert "You are alice" in whoami.text and whoami.private
    [again] = await app.core.handle(dm("/link"))
    assert "already linked to account alice" in again.text


async def test_start_with_deep_link_code_links(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    [reply] = await app.core.handle(dm(f"/start {code}"))
    assert "Linked" in reply.text and "alice" in reply.text
    [welcome] = await app.core.handle(dm("/start"))
    assert "Welcome back, alice" in welcome.text


async def test_memory_shows_in_echo_replies(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    [first] = await app.core.handle(dm("I like green tea"))
    assert first.kind is ReplyKind.MODEL
    assert "Echo: I like green tea" in first.text and "start of our conversation" in first.text
    [second] = await app.core.handle(dm("what do I like?"))
    assert "I remember 2 earlier messages" in second.text
    assert 'you said: "I like green tea"' in second.text


async def test_private_chats_of_one_account_share_a_thread(app: Chatlink) -> None:
    await link_account_first(app, "alice", "1001", Platform.TELEGRAM)
    await link_account_first(app, "alice", "d-77", Platform.DISCORD)
    await app.core.handle(dm("said on telegram", "1001", Platform.TELEGRAM))
    [reply] = await app.core.handle(dm("and now discord", "d-77", Platform.DISCORD))
    assert 'you said: "said on telegram"' in reply.text


async def test_groups_have_their_own_thread_and_never_see_private(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    await app.core.handle(dm("my secret plan"))
    [in_group] = await app.core.handle(group("hello group"))
    assert "start of our conversation" in in_group.text
    assert "secret" not in in_group.text
    [other_group] = await app.core.handle(group("other", chat_id="-600"))
    assert "start of our conversation" in other_group.text


async def test_reset_in_group_leaves_private_thread(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    await app.core.handle(dm("private one"))
    await app.core.handle(group("group one"))
    [reset] = await app.core.handle(group("/reset"))
    assert "2 messages" in reset.text
    [in_group] = await app.core.handle(group("after reset"))
    assert "start of our conversation" in in_group.text
    [private] = await app.core.handle(dm("still there?"))
    assert 'you said: "private one"' in private.text


async def test_reset_and_forget(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice")
    await app.core.handle(dm("one"))
    await app.core.handle(group("two"))
    [reset] = await app.core.handle(dm("/reset"))
    assert "private conversation (2 messages)" in reset.text
    assert await app.core.memory.count(alice.id) == 2
    [forget] = await app.core.handle(dm("/forget"))
    assert forget.private and "(2 messages)" in forget.text
    assert await app.core.memory.count(alice.id) == 0


async def test_memory_commands_need_a_link(app: Chatlink) -> None:
    for command in ("/reset", "/forget"):
        [reply] = await app.core.handle(dm(command))
        assert "not linked" in reply.text and reply.kind is ReplyKind.REJECTED
    [unlink] = await app.core.handle(dm("/unlink"))
    assert "not linked" in unlink.text


async def test_group_link_never_shows_a_code(app: Chatlink) -> None:
    [reply] = await app.core.handle(group("/link"))
    assert "privately" in reply.text
    assert not any(len(word) >= 40 for word in reply.text.split())
    assert await app.links.codes.count_pending(app.links.clock()) == 0


async def test_code_pasted_in_a_group_is_voided(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    [reply] = await app.core.handle(group(f"/link@chatlink_bot {code}"))
    assert "void" in reply.text
    [later] = await app.core.handle(dm(f"/link {code}", "666"))
    assert "already used" in later.text
    assert await app.accounts.store.identity("telegram", "666") is None


async def test_group_messages_not_addressed_are_ignored(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    assert await app.core.handle(group("just chatting", addressed=False)) == []
    assert await app.core.handle(group("/reset@another_bot")) == []
    assert await app.core.handle(group(None, addressed=False)) == []
    assert await app.core.memory.store.count() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "only read text"),
        ("", "some text"),
        ("   \n\t ", "some text"),
        ("x" * 8001, "too long (8,001 characters); the limit is 8,000"),
    ],
)
async def test_bad_input_gets_an_answer_and_stores_nothing(
    app: Chatlink, text: str | None, expected: str
) -> None:
    await link_account_first(app, "alice")
    [reply] = await app.core.handle(dm(text))
    assert expected in reply.text and reply.kind is ReplyKind.REJECTED
    assert await app.core.memory.store.count() == 0


async def test_longest_allowed_message_is_accepted(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    [reply] = await app.core.handle(dm("y" * 8000))
    assert reply.kind is ReplyKind.MODEL


async def test_sql_looking_input_is_stored_verbatim(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice")
    nasty = "'); DROP TABLE messages; -- \\ % _ ‮ 🙂 <script>"
    await app.core.handle(dm(nasty))
    await app.core.handle(dm("nul\x00byte"))  # NUL is dropped: PostgreSQL text refuses it
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 10)
    assert stored[0].content == nasty
    assert stored[2].content == "nulbyte"
    assert stored[0].role == "user" and stored[1].role == "assistant"


async def test_unknown_command(app: Chatlink) -> None:
    [reply] = await app.core.handle(dm("/frobnicate"))
    assert "Unknown command /frobnicate" in reply.text


async def test_disabled_account_gets_a_short_answer_and_nothing_is_stored(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    await app.accounts.set_disabled("alice", True)
    [reply] = await app.core.handle(dm("hello"))
    assert "disabled" in reply.text
    [reset] = await app.core.handle(dm("/reset"))
    assert "disabled" in reset.text
    assert await app.core.memory.store.count() == 0


async def test_concurrent_messages_in_one_thread_are_stored_in_order(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice")
    texts = [f"message {n:02d}" for n in range(30)]
    results = await asyncio.gather(*(app.core.handle(dm(text)) for text in texts))
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 100)
    assert [m.content for m in stored if m.role == "user"] == texts
    # each reply saw exactly the messages before it, within the window: it fills up to
    # HISTORY_MAX_MESSAGES (20), then its start jumps to the user message from which at most
    # half of it is left (9 messages), and it fills again (see bot/conversation/window.py)
    assert app.settings.history_max_messages == 20

    def remembered(n: int) -> int:
        return 2 * n if n < 10 else 8 + 2 * ((n - 10) % 6)

    for n, (reply, *_notice) in enumerate(results[1:], start=1):
        assert f"I remember {remembered(n)} earlier" in reply.text
        assert f'you said: "message {n - 1:02d}"' in reply.text


async def test_history_is_bounded_by_count_and_characters(
    app: Chatlink, scripted: ScriptedModel
) -> None:
    alice = await link_account_first(app, "alice")
    seen: list[Sequence[Turn]] = []

    class Spy:
        name = "spy"

        async def stream(self, history: Sequence[Turn], usage: Usage) -> AsyncIterator[str]:
            seen.append(history)
            yield "ok"

        async def check(self) -> str:
            return "spy"

        async def close(self) -> None:
            pass

    scripted.default = Spy()
    for n in range(30):
        await app.core.handle(dm(f"m{n}"))
    # The window fills up to the bound, then drops a block at once (not one pair a turn):
    # between two drops each request holds the previous one whole.
    bound = app.settings.history_max_messages
    assert max(len(h) for h in seen) == bound - 1 and all(len(h) <= bound for h in seen)
    assert seen[-1][-1] == Turn("user", "m29")
    moves = [n for n in range(1, 30) if list(seen[n][: len(seen[n - 1])]) != list(seen[n - 1])]
    assert moves == [10, 16, 22, 28]
    memory = app.core.memory
    memory.max_chars = 5000
    await app.core.handle(dm("z" * 3000))
    await app.core.handle(dm("w" * 3000))
    # No room for both: the start moves to the newest message, which always stays.
    assert [t.content[0] for t in seen[-1]] == ["w"]
    assert sum(len(t.content) for t in seen[-1]) <= 5000
    assert (
        len(
            await app.core.memory.store.recent(
                await app.core.memory.thread(alice.id, "private"), 100
            )
        )
        == 64
    )  # all were stored


async def test_provider_failure_keeps_the_user_message_and_recovers(
    app: Chatlink, scripted: ScriptedModel
) -> None:
    alice = await link_account_first(app, "alice")
    # The next reply breaks off after its first piece; the one after is the echo again.
    scripted.plans.append(SlowStream(["half a rep", "never sent"], delay=0, fail_after=1))
    [reply] = await app.core.handle(dm("are you there?"))
    assert reply.kind is ReplyKind.ERROR and "unavailable" in reply.text
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 10)
    assert [(m.role, m.content) for m in stored] == [("user", "are you there?")]
    [ok] = await app.core.handle(dm("now?"))
    assert ok.kind is ReplyKind.MODEL and 'you said: "are you there?"' in ok.text


async def test_streaming_progress_reaches_the_callback(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    progress: list[str] = []

    async def on_progress(text: str) -> None:
        progress.append(text)

    [reply] = await app.core.handle(dm("stream please"), on_progress=on_progress)
    assert len(progress) >= 2 and progress[-1] == reply.text
    assert all(reply.text.startswith(p) for p in progress)


async def test_group_unlinked_sender_is_told_to_go_private(app: Chatlink) -> None:
    [reply] = await app.core.handle(group("hi bot"))
    assert "privately" in reply.text and not reply.private
    [whoami] = await app.core.handle(replace(group("/whoami"), user_id="42"))
    assert whoami.private


async def test_forget_waits_for_a_reply_in_flight(app: Chatlink, scripted: ScriptedModel) -> None:
    alice = await link_account_first(app, "alice", "1001")
    await link_account_first(app, "alice", "d-1", Platform.DISCORD)
    slow = SlowStream(["a reply"], delay=0.3)
    scripted.default = slow
    chatting = asyncio.create_task(app.core.handle(dm("hello", "1001")))
    await slow.started.wait()
    [forgot] = await app.core.handle(dm("/forget", "d-1", Platform.DISCORD))
    await chatting
    assert "(2 messages)" in forgot.text  # the erasure came after the reply was stored
    assert await app.core.memory.count(alice.id) == 0


async def test_one_private_thread_keeps_arrival_order_across_platforms(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice", "1001")
    await link_account_first(app, "alice", "d-1", Platform.DISCORD)

    async def send(n: int) -> None:
        # 5 ms apart: messages that arrive at the very same moment have no order to keep
        await asyncio.sleep(n * 0.001)
        sender = ("1001", Platform.TELEGRAM) if n % 2 else ("d-1", Platform.DISCORD)
        await app.core.handle(dm(f"m{n:02d}", *sender))

    await asyncio.gather(*(send(n) for n in range(20)))
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 100)
    assert [m.content for m in stored if m.role == "user"] == [f"m{n:02d}" for n in range(20)]
    roles = [m.role for m in stored]
    assert roles == ["user", "assistant"] * 20  # never two turns interleaved


async def test_the_core_says_up_front_whether_a_message_will_stream(app: Chatlink) -> None:
    core = app.core
    assert core.will_stream(dm("tell me a story")) and core.will_stream(group("and you?"))
    assert not core.will_stream(dm("/help")) and not core.will_stream(dm("/reset@other_bot"))
    assert not core.will_stream(dm(None)) and not core.will_stream(dm("  \x00 "))
    assert not core.will_stream(dm("x" * (app.settings.max_message_chars + 1)))
    assert not core.will_stream(group("chatter", addressed=False))


async def test_a_door_hands_the_core_the_place_it_holds(app: Chatlink) -> None:
    await link_account_first(app, "alice")
    message = dm("hello")
    place = app.core.place(message)
    with pytest.raises(ValueError, match="hold the place"):
        await app.core.handle(message, place=place)
    async with place:
        # the core takes no second place of its own for this sender (that would never come)
        [reply] = await asyncio.wait_for(app.core.handle(message, place=place), 10)
    assert reply.kind is ReplyKind.MODEL and len(app.core.order) == 0


async def test_web_messages_need_an_authenticated_account(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    forged = replace(dm("hello", str(alice.id)), platform=Platform.WEB)
    [reply] = await app.core.handle(forged)
    assert "not linked" in reply.text
    [ok] = await app.core.handle(forged, account=alice)
    assert ok.kind is ReplyKind.MODEL


async def test_disabled_accounts_cannot_be_linked(app: Chatlink) -> None:
    from bot.errors import AccountDisabled

    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    await app.accounts.set_disabled("alice", True)
    with pytest.raises(AccountDisabled):
        await app.links.issue_for_account(alice.id)
    [reply] = await app.core.handle(dm(f"/link {code}"))
    assert "disabled" in reply.text
    assert await app.accounts.store.identity("telegram", "1001") is None


async def test_messages_per_minute_limit(tmp_path: Path, clock: FakeClock) -> None:
    async with open_chatlink(make_settings(tmp_path, rate_limit_per_minute=3), clock=clock) as app:
        alice = await link_account_first(app, "alice")
        for n in range(3):
            [reply] = await app.core.handle(dm(f"m{n}"))
            assert reply.kind is ReplyKind.MODEL
        [refused] = await app.core.handle(dm("one too many"))
        assert refused.kind is ReplyKind.REJECTED
        assert re.fullmatch(r"Too many messages\. Try again in \d+ seconds\.", refused.text)
        assert await app.core.memory.count(alice.id) == 6  # the refused one is not stored
        [whoami] = await app.core.handle(dm("/whoami"))  # commands are not limited
        assert "You are alice" in whoami.text


async def test_daily_token_budget(tmp_path: Path, clock: FakeClock) -> None:
    async with open_chatlink(make_settings(tmp_path, daily_token_budget=60), clock=clock) as app:
        alice = await link_account_first(app, "alice")
        replies = [(await app.core.handle(dm("hello there")))[0] for _ in range(6)]
        refused = [r for r in replies if r.kind is ReplyKind.REJECTED]
        assert refused and "token budget is used up" in refused[0].text
        assert "resets at 00:00 UTC" in refused[0].text
        [whoami] = await app.core.handle(dm("/whoami"))
        assert re.search(r"Model tokens today: \d+ of 60\.", whoami.text)
        thread = await app.core.memory.thread(alice.id, "private")
        stored = await app.core.memory.store.recent(thread, 100)
        assert len(stored) == 2 * (len(replies) - len(refused))


async def test_groups_outside_the_allowed_list_are_ignored(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, telegram_allowed_chats=[-500])
    async with open_chatlink(settings, clock=clock) as app:
        alice = await link_account_first(app, "alice")
        allowed = replace(group("hello allowed"), group_id="-500")
        elsewhere = replace(group("hello elsewhere", chat_id="-600"), group_id="-600")
        [reply] = await app.core.handle(allowed)
        assert reply.kind is ReplyKind.MODEL
        assert await app.core.handle(elsewhere) == []
        assert await app.core.handle(replace(elsewhere, text="/link")) == []
        [private] = await app.core.handle(dm("and in private?"))
        assert private.kind is ReplyKind.MODEL
        assert await app.core.memory.count(alice.id) == 4
        discord_group = replace(elsewhere, platform=Platform.DISCORD)
        [other_platform] = await app.core.handle(discord_group)  # no list for Discord
        assert "not linked" in other_platform.text
