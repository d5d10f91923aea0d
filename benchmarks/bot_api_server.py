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
      With "text": "t{i} ..." the messages are that text instead, and with "reply": "..." the
      answer expected in every chat is that whole text (a streamed model reply). With
      "record": true the report also holds "handed_out": {chat: when its update went out in a
      getUpdates} and "sent": [[when, method, chat, final], ...] for every sendMessage and
      editMessageText (wall-clock seconds, to compare with other processes).
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
LOAD_WITHIN_S = 300
REPORT_LIMIT = 64 * 1024 * 1024  # a recorded load's report is one long line
PREFIX = f"/bot{TOKEN}/".encode()


class Load:
    """One batch of updates being answered, and what the bot called meanwhile."""

    def __init__(self, count: int, reply: str | None = None, record: bool = False) -> None:
        self.count = count
        self.reply = reply
        self.record = record
        self.handed_out: dict[int, float] = {}
        self.sent: list[tuple[float, str, int, bool]] = []
        self.pending: dict[int, Counter[str]] = {}
        self.left = count
        self.first_out: float | None = None
        self.last_reply = 0.0
        self.cpu_from = self.cpu_to = 0.0  # this process's CPU seconds over the same span
        self.calls: Counter[str] = Counter()
        self.unexpected = 0
        self.done = asyncio.get_running_loop().create_future()

    def expect(self, chat_id: int, text: str) -> None:
        answer = f"Echo: {text}" if self.reply is None else self.reply
        self.pending.setdefault(chat_id, Counter())[answer] += 1

    def answered(self, chat_id: int, text: str, method: str) -> None:
        partial = text.endswith(TYPING_MARK)  # a reply still streaming: not the answer yet
        if self.record:
            self.sent.append((time.time(), method, chat_id, not partial))
        if partial:
            return
        first_line = text.split("\n", 1)[0] if self.reply is None else text.strip()
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
        } | ({"handed_out": self.handed_out, "sent": self.sent} if self.record else {})


class BotApi:
    """The server's state: the update queue, long polls waiting on it, the current load."""

    def __init__(self) -> None:
        self.builder = FakeTelegram()  # only its update payloads are used
        self.queue: deque[tuple[int, bytes]] = deque()  # (update_id, JSON), until confirmed
        self.next_update_id = 1
        self.next_message_id = 1
        self.arrived = asyncio.Event()
        self.load: Load | None = None

    def enqueue(
        self,
        chats: list[int],
        count: int,
        label: str,
        text: str | None = None,
        reply: str | None = None,
        record: bool = False,
    ) -> Load:
        self.load = load = Load(count, reply, record)
        for i in range(count):
            chat = chats[i % len(chats)]
            text_i = f"{label} {i}" if text is None else text.format(i=i)
            load.expect(chat, text_i)
            message = self.builder.message(text_i, user_id=chat)
            update = {"update_id": self.next_update_id, **message}
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
                self.load.answered(chat_id, text, method)
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
        if self.load is not None and self.load.record:
            now = time.time()
            for body in batch:
                chat = json.loads(body)["message"]["chat"]["id"]
                self.load.handed_out.setdefault(chat, now)
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


class LoopbackBotApi:
    """This server in a process of its own, driven through its stdin and stdout (for the
    benchmarks that use it)."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def __aenter__(self) -> LoopbackBotApi:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=REPORT_LIMIT,
        )  # fmt: skip
        port = json.loads(await self._line(10))["port"]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    async def load(self, **command: Any) -> dict[str, Any]:
        """Queue a load (see the module's docstring) and return the server's figures once
        all of it is answered; SystemExit when it is not, or a reply answered nothing."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"load": command}).encode() + b"\n")
        await self.process.stdin.drain()
        label = command["label"]
        try:
            report: dict[str, Any] = json.loads(await self._line(LOAD_WITHIN_S))
        except TimeoutError:
            raise SystemExit(
                f"{label}: not every update was answered in {LOAD_WITHIN_S} s"
            ) from None
        if report["unexpected"]:
            raise SystemExit(f"{label}: {report['unexpected']} replies answered nothing sent")
        return report

    async def _line(self, within: float) -> bytes:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise SystemExit("the loopback Bot API server stopped")
        return line


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
