"""LiveReply: throttled edits, splitting as the text grows, exact final text."""

from __future__ import annotations

from bot.delivery.live_reply import LiveReply


class Screen:
    """Messages as a chat shows them."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.edits = 0

    async def send(self, text: str) -> int:
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str) -> None:
        self.messages[handle] = text
        self.edits += 1


async def test_throttled_updates_and_exact_finish() -> None:
    screen, now = Screen(), [0.0]
    live = LiveReply(screen.send, screen.edit, limit=50, interval_s=1.0, clock=lambda: now[0])
    await live.update("Hel")  # a reply that is quick needs no live message at all
    assert screen.messages == []
    now[0] = 1.0
    await live.update("Hello")
    assert screen.messages == ["Hello …"]
    await live.update("Hello wor")  # too soon: nothing happens
    assert screen.messages == ["Hello …"] and screen.edits == 0
    now[0] = 2.5
    await live.update("Hello world, how")
    assert screen.messages == ["Hello world, how …"]
    await live.finish("Hello world, how are you?")
    assert screen.messages == ["Hello world, how are you?"] and screen.edits == 2


async def test_grows_into_more_messages_and_joins_back() -> None:
    screen, now = Screen(), [0.0]
    live = LiveReply(screen.send, screen.edit, limit=20, interval_s=0, clock=lambda: now[0])
    text = " ".join(f"word{n}" for n in range(30))
    for end in range(5, len(text), 7):
        await live.update(text[:end])
    await live.finish(text)
    assert "".join(screen.messages) == text
    assert all(len(m) <= 20 for m in screen.messages)


async def test_an_error_replaces_a_partial_reply() -> None:
    screen = Screen()
    live = LiveReply(screen.send, screen.edit, limit=10, interval_s=0)
    await live.update("partial text that spans")
    assert len(screen.messages) == 3
    await live.finish("Failed.")
    assert screen.messages == ["Failed.", "…", "…"]


async def test_blank_updates_send_nothing() -> None:
    screen = Screen()
    live = LiveReply(screen.send, screen.edit, limit=10, interval_s=0)
    await live.update("   ")
    assert screen.messages == [] and not live.started


async def test_a_quick_reply_is_sent_once_whole() -> None:
    screen = Screen()
    live = LiveReply(screen.send, screen.edit, limit=50, interval_s=5)
    await live.update("all at")
    assert not live.started
    await live.finish("all at once")
    assert screen.messages == ["all at once"] and screen.edits == 0


async def test_a_failed_edit_sends_the_rest_anew() -> None:
    screen = Screen()
    live = LiveReply(screen.send, screen.edit, limit=100, interval_s=0)
    await live.update("The beginning")

    async def gone(handle: int, text: str) -> None:
        raise ConnectionError("message to edit not found")

    live._edit = gone
    await live.finish("The beginning and the end.")
    assert screen.messages[-1] == "The beginning and the end."


async def test_a_pace_that_follows_the_load_is_asked_at_each_update() -> None:
    screen, now, busy = Screen(), [0.0], [True]

    def pace() -> float:  # a door with many replies in flight edits each less often
        return 60.0 if busy[0] else 1.0

    live = LiveReply(screen.send, screen.edit, limit=50, interval_s=pace, clock=lambda: now[0])
    for second in range(10):
        now[0] = float(second)
        await live.update(f"text {second}")
    assert screen.messages == []  # under load: nothing before the reply is whole
    busy[0] = False
    now[0] = 10.0
    await live.update("text 10")
    assert screen.messages == ["text 10 …"]
    await live.finish("text 10 done")
    assert screen.messages == ["text 10 done"] and screen.edits == 1
