"""The Telegram door against a Bot API stand-in on 127.0.0.1, driven by python-telegram-bot."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import BaseRateLimiter

from adapters.telegram_bot import TelegramDoor
from bot.app import Chatlink, open_chatlink
from bot.conversation.replying import STOPPED
from bot.delivery import APOLOGY, SHUTTING_DOWN, split_text, utf16_length
from bot.monitoring.logs import RedactingFormatter
from storage import Account
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.serve import serve
from tests.fakes.slow_model import SlowStream
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram
from tests.support.settings import PASSWORD, FakeClock, make_settings

GROUP = -100500


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    async with serve(fake.app()) as url:
        yield fake, url


def telegram_settings(tmp_path: Path, url: str, **extra: Any) -> Any:
    return make_settings(
        tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url=f"{url}/bot", **extra
    )


async def link_alice(fake: FakeTelegram, app: Chatlink) -> Account:
    """Register alice and link the stand-in's default user to her with `/link CODE`."""
    alice = await app.accounts.register("alice", PASSWORD)
    await fake.say(f"/link {(await app.links.issue_for_account(alice.id)).code}")
    await fake.wait_sent(1)
    return alice


@pytest.fixture
async def running(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock, scripted: ScriptedModel
) -> AsyncIterator[tuple[FakeTelegram, Chatlink]]:
    fake, url = telegram
    settings = telegram_settings(tmp_path, url)
    async with open_chatlink(settings, clock=clock, provider=scripted) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            yield fake, app
        finally:
            await door.stop()


async def test_start_up_registers_commands(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, app = running
    await fake.until(lambda: "getUpdates" in fake.methods(), within=5)
    methods = fake.methods()
    assert methods[:1] == ["getMe"] and "setMyCommands" in methods and "getUpdates" in methods
    [commands] = [c.params["commands"] for c in fake.calls if c.method == "setMyCommands"]
    assert [c["command"] for c in commands] == [
        "start", "help", "link", "unlink", "reset", "forget", "whoami",
        "model", "persona", "system", "retry", "undo", "stop", "usage", "tools",
    ]  # fmt: skip
    assert app.senders.username("telegram") == BOT_USERNAME


async def test_chat_first_link_then_memory_then_reset(
    running: tuple[FakeTelegram, Chatlink],
) -> None:
    fake, app = running
    await fake.say("hello")
    [instructions] = await fake.wait_sent(1)
    assert "/link" in instructions and "Echo" not in instructions

    await fake.say("/link")
    code = (await fake.wait_sent(2))[-1].split()[-1]
    done = await app.links.complete_with_registration(code, "alice", PASSWORD)
    assert done.account.username == "alice"
    confirmation = (await fake.wait_sent(3))[-1]
    assert "linked to account alice" in confirmation

    await fake.say("I like green tea")
    await fake.wait_sent(4)
    await fake.say("what do I like?")
    reply = (await fake.wait_sent(5))[-1]
    assert 'you said: "I like green tea"' in reply

    await fake.say("/reset")
    assert "forgot our private conversation" in (await fake.wait_sent(6))[-1]
    await fake.say("anything?")
    assert "start of our conversation" in (await fake.wait_sent(7))[-1]


async def test_account_first_deep_link_and_reuse(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, app = running
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    await fake.say(f"/start {code}")
    assert "account alice" in (await fake.wait_sent(1))[-1]
    await fake.say(f"/link {code}", user_id=2002, first_name="Mallory")
    assert "already used" in (await fake.wait_sent(1, chat_id=2002))[-1]
    tampered = code[:10] + ("A" if code[10] != "A" else "B") + code[11:]
    await fake.say(f"/link {tampered}", user_id=2002, first_name="Mallory")
    assert "not valid" in (await fake.wait_sent(2, chat_id=2002))[-1]
    assert await app.accounts.store.identity("telegram", "2002") is None


async def test_group_rules(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, app = running
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code
    await fake.say(f"/link {code}")
    await fake.wait_sent(1)

    await fake.say("just chatting with friends", chat_id=GROUP, chat_type="supergroup")
    mention = {"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}
    await fake.say(
        f"@{BOT_USERNAME} what is up?", chat_id=GROUP, chat_type="supergroup", entities=[mention]
    )
    [answer] = await fake.wait_sent(1, chat_id=GROUP)
    assert answer.startswith("Echo: what is up?")  # unaddressed chatter was neither seen nor stored
    assert "start of our conversation" in answer

    await fake.say(f"/link@{BOT_USERNAME}", chat_id=GROUP, chat_type="supergroup")
    link_answer = (await fake.wait_sent(2, chat_id=GROUP))[-1]
    assert "privately" in link_answer
    call = next(c for c in fake.calls if c.params.get("text") == link_answer)
    button = call.params["reply_markup"]["inline_keyboard"][0][0]
    assert button["url"] == f"https://t.me/{BOT_USERNAME}?start=link"
    assert not any(len(w) >= 40 for w in link_answer.split())

    await fake.say("/whoami", chat_id=GROUP, chat_type="supergroup")
    assert (await fake.wait_sent(3, chat_id=GROUP))[
        -1
    ] == "I sent you the answer in a private message."
    assert "You are alice" in (await fake.wait_sent(2, chat_id=1001))[-1]

    await fake.say("/reset@other_bot", chat_id=GROUP, chat_type="supergroup")
    sticker = {"file_id": "x", "file_unique_id": "y", "type": "regular", "width": 1,
               "height": 1, "is_animated": False, "is_video": False}  # fmt: skip
    await fake.push(fake.message(None, chat_id=GROUP, chat_type="supergroup", sticker=sticker))
    # Updates of one chat are handled in order: once this is answered, the two above had
    # their turn, and got nothing.
    await fake.say(f"/help@{BOT_USERNAME}", chat_id=GROUP, chat_type="supergroup")
    *earlier, marker = await fake.wait_sent(4, chat_id=GROUP)
    assert "/link" in marker
    assert len(earlier) == 3


async def test_non_text_and_edits(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, _ = running
    sticker = fake.message(None, sticker={"file_id": "x", "file_unique_id": "y", "type": "regular",
                                          "width": 1, "height": 1, "is_animated": False,
                                          "is_video": False})  # fmt: skip
    await fake.push(sticker)
    assert "only read text" in (await fake.wait_sent(1))[-1]
    edited = fake.message("edited text")
    await fake.push({"edited_message": edited["message"] | {"edit_date": 1}})
    await fake.push(
        {"channel_post": fake.message("post", chat_type="channel", chat_id=-777)["message"]}
    )
    # Answered after the edit (same chat, in order) and after the post (queued before it).
    await fake.say("/help")
    *earlier, marker = await fake.wait_sent(2)
    assert "/link" in marker
    assert len(earlier) == 1


async def test_long_reply_is_split_in_three(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    text = ("All work and no play makes a dull bot. " * 30 + "\n\n") * 8
    text = text[:8000]
    await fake.say(text)
    pieces = (await fake.wait_sent(4))[1:]
    echoed = "".join(pieces)
    assert echoed.startswith("Echo: " + text[:100])
    assert len(pieces) == 3 and all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in pieces)
    thread = await app.core.memory.thread(alice.id, "private")
    stored = await app.core.memory.store.recent(thread, 1)
    assert stored[0].content == echoed  # joined back equal to the original


async def test_flood_control_and_polling_errors(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, _ = running
    fake.fail_next("sendMessage", 429, retry_after=1)
    await fake.say("hello")
    [instructions] = await fake.wait_sent(1)
    attempts = [c for c in fake.calls if c.method == "sendMessage"]
    assert len(attempts) == 2 and "/link" in instructions, fake.methods()

    fake.fail_next("getUpdates", 500)
    fake.fail_next("getUpdates", 500)
    # both failures answered before the next update exists
    await fake.until(
        lambda: sum(1 for c in fake.calls if c.method == "getUpdates" and not c.ok) == 2,
        within=15,
    )
    assert sum(1 for c in fake.calls if c.method == "getUpdates" and not c.ok) == 2
    await fake.say("still there?")
    await fake.wait_sent(2, within=30)


async def test_restart_keeps_link_and_memory(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    settings = telegram_settings(tmp_path, url)
    async with open_chatlink(settings, clock=clock) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        alice = await app.accounts.register("alice", PASSWORD)
        await fake.say(f"/link {(await app.links.issue_for_account(alice.id)).code}")
        await fake.say("remember the blue door")
        await fake.wait_sent(2)
        await door.stop()
    async with open_chatlink(settings, clock=clock) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            await fake.say("which door?")
            assert 'you said: "remember the blue door"' in (await fake.wait_sent(3))[-1]
        finally:
            await door.stop()


async def test_refused_token_is_a_clear_error_without_the_token(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    from bot.delivery.runtime import serve
    from bot.errors import ConfigError

    fake, url = telegram
    fake.token = "another-token"  # the server refuses ours: 401, as Telegram does
    async with open_chatlink(telegram_settings(tmp_path, url), clock=clock) as app:
        door = TelegramDoor(app, poll_timeout=1)
        with pytest.raises(ConfigError) as refused:
            await serve([door])
    assert "TELEGRAM_BOT_TOKEN was refused" in str(refused.value)
    assert TOKEN not in str(refused.value)


async def test_token_is_redacted_from_log_output() -> None:
    from bot.monitoring.logs import redact, scrub

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact(TOKEN)
        record = logging.LogRecord(
            "x", logging.ERROR, "f", 1, "url %s/bot%s/getMe", ("u", TOKEN), None
        )
        assert TOKEN not in handler.format(record) and "<redacted>" in handler.format(record)
        assert scrub(f"The token `{TOKEN}` was rejected") == "The token `<redacted>` was rejected"
    finally:
        root.removeHandler(handler)


async def test_slash_text_that_is_not_our_command_is_ignored_in_groups(
    running: tuple[FakeTelegram, Chatlink],
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    for text in ("/usr/bin is where it lives", "/roll 2d6", "/reset@other_bot"):
        await fake.say(text, chat_id=GROUP, chat_type="group")
    await fake.say("/whoami", chat_id=GROUP, chat_type="group")
    # Answered after the three above (one chat's updates go in order): they had their turn.
    await fake.wait_sent(1, chat_id=GROUP)
    assert fake.sent(GROUP) == ["I sent you the answer in a private message."]
    assert await app.core.memory.count(alice.id) == 0


async def test_reply_grows_by_editing_one_message(
    running: tuple[FakeTelegram, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    pieces = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "bot."]
    scripted.plans.append(SlowStream(pieces))
    await fake.say("tell me a story")
    [_, first] = await fake.wait_sent(2)
    await fake.until(lambda: bool(fake.edits()) and fake.edits()[-1][1] == "".join(pieces))
    edits = fake.edits()
    assert first.endswith(" …") and 2 <= len(edits) <= 5  # about once a second, not per piece
    assert edits[-1][1] == "".join(pieces)  # the final text, whole
    assert "sendChatAction" in fake.methods()  # typing shown while a slow reply is made
    assert len(fake.sent(1001)) == 2  # still one message for the reply
    thread = await app.core.memory.thread(alice.id, "private")
    assert (await app.core.memory.store.recent(thread, 1))[0].content == "".join(pieces)


async def test_broken_stream_is_replaced_by_the_apology(
    running: tuple[FakeTelegram, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    scripted.plans.append(SlowStream(["Half ", "a ", "reply ", "and"], fail_after=3))
    await fake.say("go on")
    await fake.wait_sent(2)
    await fake.until(lambda: bool(fake.edits()) and "unavailable" in fake.edits()[-1][1], 6)
    assert "unavailable" in fake.edits()[-1][1]
    thread = await app.core.memory.thread(alice.id, "private")
    assert [m.role for m in await app.core.memory.store.recent(thread, 5)] == ["user"]


async def test_polling_conflict_is_reported_once(
    running: tuple[FakeTelegram, Chatlink], caplog: pytest.LogCaptureFixture
) -> None:
    fake, _ = running
    for _ in range(4):  # what Telegram answers while another process polls the same token
        fake.fail_next("getUpdates", 409)
    await fake.until(
        lambda: sum(1 for c in fake.calls if c.method == "getUpdates" and not c.ok) == 4,
        within=10,
    )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "TELEGRAM_MODE=webhook" in errors[0].getMessage()
    await fake.say("back to normal")
    await fake.wait_sent(1, within=30)


async def test_allowed_chats(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    settings = telegram_settings(tmp_path, url, telegram_allowed_chats=[GROUP])
    async with open_chatlink(settings, clock=clock) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            await fake.say("/help", chat_id=-999, chat_type="group")
            await fake.say("/help", chat_id=GROUP, chat_type="group")
            await fake.say("/help")  # private chats keep working
            # Both later messages answered: the first (queued before them) had its chance.
            await fake.wait_sent(1, chat_id=GROUP)
            await fake.wait_sent(1, chat_id=1001)
            assert fake.sent(-999) == [] and len(fake.sent(GROUP)) == 1
        finally:
            await door.stop()


async def test_disabled_account_on_telegram(running: tuple[FakeTelegram, Chatlink]) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    await app.admin.set_disabled("cli", "alice", True)
    await fake.say("hello?")
    assert "disabled" in (await fake.wait_sent(2))[-1]
    assert await app.core.memory.count(alice.id) == 0


class SlowFirstSend(BaseRateLimiter[None]):
    """A network that is slow once: the first sendMessage after `arm()` takes half a second."""

    def __init__(self) -> None:
        self.armed = False

    def arm(self) -> None:
        self.armed = True

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Any:
        if endpoint == "sendMessage" and self.armed:
            self.armed = False
            await asyncio.sleep(0.5)
        return await callback(*args, **kwargs)


async def test_one_chats_messages_are_answered_and_shown_in_order(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    network = SlowFirstSend()
    scripted = ScriptedModel()
    async with open_chatlink(
        telegram_settings(tmp_path, url), clock=clock, provider=scripted
    ) as app:
        door = TelegramDoor(app, poll_timeout=1, rate_limiter=network)
        await door.start()
        try:
            alice = await link_alice(fake, app)
            pieces = ["A" * 3000, "B" * 3000, "C" * 3000]  # a reply of three messages
            scripted.default = SlowStream(pieces, delay=0.05)
            network.arm()  # the first reply's first part is slow to go out
            for text in ("one", "two", "three"):
                await fake.say(text)
            sent = (await fake.wait_sent(1 + 9))[1:]
            # each reply shown whole before the next begins, though the next was ready sooner
            assert sent == split_text("".join(pieces), 4096, utf16_length) * 3
            thread = await app.core.memory.thread(alice.id, "private")
            stored = await app.core.memory.store.recent(thread, 10)
            assert [m.content for m in stored if m.role == "user"] == ["one", "two", "three"]
        finally:
            await door.stop()


async def test_updates_queued_behind_a_busy_chat_hold_no_slot(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    settings = telegram_settings(tmp_path, url, telegram_concurrent_updates=2)
    scripted = ScriptedModel()
    async with open_chatlink(settings, clock=clock, provider=scripted) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            await link_alice(fake, app)
            gate = asyncio.Event()
            model = SlowStream(["held ", "back"], delay=0.01, gate=gate)
            scripted.default = model
            await fake.say("first")
            await asyncio.wait_for(model.at_gate.wait(), 10)  # one slot taken
            await fake.say("second")  # queued behind the first, in no slot
            await fake.say("/help", user_id=2002, first_name="Bob")
            [help_text] = await fake.wait_sent(1, chat_id=2002, within=5)  # the other slot
            assert "/link" in help_text
            assert len(fake.sent(1001)) == 1  # alice's first is still at the gate
            gate.set()
            replies = (await fake.wait_sent(3, chat_id=1001))[1:]
            assert [r.startswith("held back") for r in replies] == [True, True]
        finally:
            await door.stop()


async def test_a_failed_answer_is_an_apology_in_the_chat(
    running: tuple[FakeTelegram, Chatlink], caplog: pytest.LogCaptureFixture
) -> None:
    fake, app = running

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("boom")

    app.core.handle = broken  # type: ignore[method-assign, assignment]
    update_id = await fake.say("hello?")
    assert (await fake.wait_sent(1))[-1] == APOLOGY
    assert f"telegram: handling update_id={update_id} failed" in caplog.text


async def test_cut_off_at_shutdown_answers_and_queued_messages_alike(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    fake, url = telegram
    settings = telegram_settings(tmp_path, url, shutdown_grace_s=0.2)
    scripted = ScriptedModel()
    async with open_chatlink(settings, clock=clock, provider=scripted) as app:
        door = TelegramDoor(app, poll_timeout=1)
        await door.start()
        try:
            alice = await link_alice(fake, app)
            model = SlowStream(["never ", "shown"], delay=0.01, gate=asyncio.Event())
            scripted.default = model
            await fake.say("first")
            await asyncio.wait_for(model.at_gate.wait(), 10)
            await fake.say("second")  # waits for its place behind the first
            for _ in range(100):
                if len(door.in_flight) == 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            await door.stop()
        # both told, the one being answered and the one still waiting for its place
        assert fake.sent(1001)[1:] == [SHUTTING_DOWN, SHUTTING_DOWN]
        thread = await app.core.memory.thread(alice.id, "private")
        stored = await app.core.memory.store.recent(thread, 10)
        assert [(m.role, m.content) for m in stored] == [("user", "first")]
        assert len(app.core.order) == 0  # nothing left standing in line


async def test_stop_reaches_the_reply_that_holds_the_senders_place(
    running: tuple[FakeTelegram, Chatlink], scripted: ScriptedModel
) -> None:
    fake, app = running
    alice = await link_alice(fake, app)
    gate = asyncio.Event()
    slow = SlowStream(["Once ", "upon ", "a ", "time"], delay=0.01, gate=gate)
    scripted.plans.append(slow)
    try:
        await fake.say("tell me a story")
        await slow.at_gate.wait()
        await fake.say("/stop")  # the story holds alice's place in this chat: /stop must not wait
        assert await fake.until(lambda: "Stopping that reply." in fake.sent(1001))
        # In place of the live reply if it was shown already, else as a message of its own.
        assert await fake.until(
            lambda: (
                STOPPED in fake.sent(1001)
                or (bool(fake.edits()) and fake.edits()[-1][1] == STOPPED)
            )
        )
    finally:
        gate.set()
    thread = await app.core.memory.thread(alice.id, "private")
    assert [m.role for m in await app.core.memory.store.recent(thread, 5)] == ["user"]


async def test_model_and_persona_lists_have_buttons_that_answer_like_the_command(
    running: tuple[FakeTelegram, Chatlink],
) -> None:
    fake, app = running
    await link_alice(fake, app)
    before = len(fake.sent(1001))
    await fake.say("/model")
    await fake.wait_sent(before + 1)
    [listing] = [c for c in fake.calls if c.method == "sendMessage"][-1:]
    markup = listing.params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    [[button]] = markup["inline_keyboard"]
    assert button == {"text": "echo", "callback_data": "/model echo"}
    pressed = fake.message("Models: …", user_id=1001)["message"]
    await fake.push(
        {
            "callback_query": {
                "id": "cb-1",
                "from": fake.user(1001),
                "message": pressed,
                "chat_instance": "1",
                "data": "/model echo",
            }
        }
    )
    [answered] = await fake.wait_calls("answerCallbackQuery", 1)
    assert answered.params["callback_query_id"] == "cb-1"
    await fake.wait_sent(before + 2)
    assert fake.sent(1001)[-1] == "Model for this chat: echo."


async def test_streamed_edits_slow_down_as_more_replies_are_in_flight(
    telegram: tuple[FakeTelegram, str], tmp_path: Path, clock: FakeClock
) -> None:
    _, url = telegram
    async with open_chatlink(telegram_settings(tmp_path, url), clock=clock) as app:
        door = TelegramDoor(app)
        assert (door._edit_interval(True), door._edit_interval(False)) == (1.0, 3.0)
        release = asyncio.Event()

        async def answering() -> None:
            door.in_flight.track()
            await release.wait()

        tasks = [asyncio.create_task(answering()) for _ in range(600)]
        await asyncio.sleep(0)
        # 600 replies at once: together at most EDITS_PER_S (15) edits a second
        assert door._edit_interval(True) == door._edit_interval(False) == 40.0
        release.set()
        await asyncio.gather(*tasks)
        assert door._edit_interval(True) == 1.0
