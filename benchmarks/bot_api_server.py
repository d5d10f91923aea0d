"""A lean Telegram Bot API stand-in for benchmarks/telegram.py, run in a process of its own.

    .venv/bin/python benchmarks/bot_api_server.py   (benchmarks/telegram.py starts it)

tests/fakes/telegram_api.py keeps every call and parses each request with Starlette, which
suits tests; here getUpdates hands out a preloaded queue, 100 updates at a time, and replies
are only checked and counted, so the server costs a small part of what the bots it feeds
cost. It speaks just enough HTTP/1.1 for python-telegram-bot's httpx client (keep-alive,
Content-Length bodies, no pipelining) and reuses the test stand-in's payloads.

Commands come one JSON object a line on stdin; each is answered with one line on stdout:
  {"load": {"chats": [id, ...], "count": n, "label": "..."}} queues n private text messages
      "<label> <i>", message i from chats[i % len(chats)], and answers once each of them got
      its reply (a sendMessage or editMessageText, in the same chat, whose text starts with
      "Echo: <label> <i>" and is not a streaming partial ending in " …"), or at once when a
      reply answers nothing pending:
      {"updates": n, "seconds": first update handed out -> last reply, "server_cpu_seconds":
       this server's CPU time in that span, "calls": {method: n}, "unexpected": replies that
       answered nothing pending}
  {"quit": true}
The first line printed is {"port": PORT}.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

# The repository root instead of benchmarks/, whose telegram.py would shadow the library.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bot.delivery.live_reply import TYPING_MARK  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeTelegram, me, sent_message  # noqa: E402

LONG_POLL_CAP_S = 1.0
PREFIX = f"/bot{TOKEN}/".encode()


class Load:
    """One batch of updates being answered, and what the bot called meanwhile."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pending: dict[int, Counter[str]] = {}
        self.left = count
        self.first_out: float | None = None
        self.last_reply = 0.0
        self.cpu_from = self.cpu_to = 0.0  # this process's CPU seconds over the same span
        self.calls: Counter[str] = Counter()
        self.unexpected = 0
        self.done = asyncio.get_running_loop().create_future()

    def expect(self, chat_id: int, text: str) -> None:
        self.pending.setdefault(chat_id, Counter())[f"Echo: {text}"] += 1

    def answered(self, chat_id: int, text: str) -> None:
        if text.endswith(TYPING_MARK):  # a reply still streaming: not the answer yet
            return
        first_line = text.split("\n", 1)[0]
        waiting = self.pending.get(chat_id)
        if waiting is None or waiting[first_line] <= 0:
            self.unexpected += 1  # the load has failed: say so now rather than never
            self.last_reply = time.perf_counter()
            if not self.done.done():
                self.done.set_result(None)
            return
        waiting[first_line] -= 1
        self.left -= 1
        self.last_reply, self.cpu_to = time.perf_counter(), time.process_time()
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)

    def report(self) -> dict[str, Any]:
        started = self.first_out if self.first_out is not None else self.last_reply
        return {
            "updates": self.count,
            "seconds": self.last_reply - started,
            "server_cpu_seconds": self.cpu_to - self.cpu_from,
            "calls": dict(self.calls),
            "unexpected": self.unexpected,
        }


class BotApi:
    """The server's state: the update queue, long polls waiting on it, the current load."""

    def __init__(self) -> None:
        self.builder = FakeTelegram()  # only its update payloads are used
        self.queue: deque[tuple[int, bytes]] = deque()  # (update_id, JSON), until confirmed
        self.next_update_id = 1
        self.next_message_id = 1
        self.arrived = asyncio.Event()
        self.load: Load | None = None

    def enqueue(self, chats: list[int], count: int, label: str) -> Load:
        self.load = load = Load(count)
        for i in range(count):
            chat, text = chats[i % len(chats)], f"{label} {i}"
            load.expect(chat, text)
            update = {"update_id": self.next_update_id, **self.builder.message(text, user_id=chat)}
            self.queue.append((self.next_update_id, json.dumps(update).encode()))
            self.next_update_id += 1
        self.arrived.set()
        self.arrived = asyncio.Event()
        return load

    def call(self, method: str, params: dict[str, str]) -> bytes | None:
        """The JSON answer to a call, or None for a getUpdates that has to wait."""
        if self.load is not None:
            self.load.calls[method] += 1
        if method == "getUpdates":
            return self.updates(params)
        if method in ("sendMessage", "editMessageText"):
            chat_id, text = int(params["chat_id"]), params["text"]
            if self.load is not None:
                self.load.answered(chat_id, text)
            if method == "editMessageText":
                message_id = int(params["message_id"])
            else:
                message_id = self.next_message_id = self.next_message_id + 1
            return ok(sent_message(message_id, chat_id, text))
        if method == "getMe":
            return ok(me())
        return ok(True)

    def updates(self, params: dict[str, str]) -> bytes | None:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        while self.queue and self.queue[0][0] < offset:  # an offset confirms what came before
            self.queue.popleft()
        if not self.queue:
            return None
        batch = [body for _, body in itertools.islice(self.queue, limit)]
        if self.load is not None and self.load.first_out is None:
            self.load.first_out, self.load.cpu_from = time.perf_counter(), time.process_time()
        return b'{"ok":true,"result":[' + b",".join(batch) + b"]}"

    async def long_poll(self, params: dict[str, str]) -> bytes:
        timeout = min(float(params.get("timeout") or 0), LONG_POLL_CAP_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.arrived.wait(), timeout)
        return self.updates(params) or b'{"ok":true,"result":[]}'


def ok(result: object) -> bytes:
    return json.dumps({"ok": True, "result": result}).encode()


def response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class Connection(asyncio.Protocol):
    """One keep-alive connection: requests are read one after another, never pipelined."""

    def __init__(self, api: BotApi) -> None:
        self.api = api
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.waiting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting is not None:
            self.waiting.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.waiting is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.handle(head[0].split(b" ")[1], body)

    def handle(self, path: bytes, body: bytes) -> None:
        assert self.transport is not None
        if not path.startswith(PREFIX):
            unauthorized = b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
            self.transport.write(response("401 Unauthorized", unauthorized))
            return
        method = path[len(PREFIX) :].split(b"?")[0].decode()
        params = dict(parse_qsl(body.decode()))
        answer = self.api.call(method, params)
        if answer is not None:
            self.transport.write(response("200 OK", answer))
        else:
            self.waiting = asyncio.get_running_loop().create_task(self.answer_later(params))

    async def answer_later(self, params: dict[str, str]) -> None:
        answer = await self.api.long_poll(params)
        assert self.transport is not None
        self.transport.write(response("200 OK", answer))
        self.waiting = None
        self.data_received(b"")  # a request that came in meanwhile


async def main() -> None:
    loop = asyncio.get_running_loop()
    api = BotApi()
    server = await loop.create_server(lambda: Connection(api), "127.0.0.1", 0, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = json.loads(line)
        if "quit" in command:
            break
        load = api.enqueue(**command["load"])
        await load.done
        print(json.dumps(load.report()), flush=True)
    server.close()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
