"""Resilience against hostile input and a failing disk (issue #8).

- Brute force: 10,000 mutated link codes sent as chat messages, guesses at codes through the
  web API and the link page, and a password brute force through the API and bot.accounts.service:
  all refused, nothing changed, the limits engage, and the real code and password work once
  the lockout is over (the app's one clock, which the limits read too, is moved).
- The database refusing writes mid-run (read-only, or full: see tests/fakes/sqlite_faults.py):
  a short answer (from the core, or from the web door for other writes), one log line without
  message text, nothing half-stored, and the next message works once writable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, closing
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.client import connect

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.delivery.texts import APOLOGY, STORAGE_FAILED
from bot.errors import CodeExpired, CodeInvalid, CodeUsed, RateLimited
from bot.linking.codec import CODE_LENGTH, LinkCodeCodec, Purpose
from bot.messages import Platform, ReplyKind
from storage import Database
from tests.fakes import sqlite_faults
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slow_model import SlowStream
from tests.support.app import OpenApp
from tests.support.people import dm, link_account_first
from tests.support.settings import PASSWORD, SECRET, FakeClock
from tests.support.web import register_on_the_page

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")

CODE_CHARS = string.ascii_letters + string.digits + "_-"
# Look-alikes and neighbours from other alphabets: Cyrillic, Greek, full-width forms, the Kelvin
# sign and long s (which lower-case onto ASCII), other digits, base64's standard alphabet.
FOREIGN = "АВЕКМНОРСТХаеорсхΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοｱＡｚ０９ＫſıİßÀéØ٣۴०१一+/="
INVISIBLE = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u0301", "\u00ad"]
ODD = ["🙂", "👩‍💻", "\U0001f1fa\U0001f1f8", "\ud7ff", "%41", "&amp;", "<b>", "'", '"', "\\"]


# --- helpers -------------------------------------------------------------------------------


def as_sent(code: str) -> str:
    """The code the chat command reads from `/link <code>` (the first word)."""
    words = code.split()
    return words[0] if words else ""


def mutations(code: str, other: str, rng: random.Random) -> Iterator[str]:
    """Endless variations on a real code (and another validly signed one): none of them is
    the code itself as a chat command would read it."""

    def flip(text: str, count: int) -> str:
        chars = list(text)
        for index in rng.sample(range(len(chars)), count):
            chars[index] = rng.choice(CODE_CHARS.replace(chars[index], ""))
        return "".join(chars)

    def insert(text: str, piece: str) -> str:
        at = rng.randrange(len(text) + 1)
        return text[:at] + piece + text[at:]

    def recase(text: str) -> str:
        letters = [i for i, c in enumerate(text) if c.isalpha()]
        at = rng.choice(letters)
        return text[:at] + text[at].swapcase() + text[at + 1 :]

    half = CODE_LENGTH // 2
    kinds: list[Callable[[], str]] = [
        lambda: flip(code, 1),
        lambda: flip(code, rng.randrange(2, 8)),
        lambda: code[: rng.randrange(1, CODE_LENGTH)],  # truncated
        lambda: code[rng.randrange(1, CODE_LENGTH) :],  # front cut off
        lambda: code + "".join(rng.choices(CODE_CHARS, k=rng.randrange(1, 30))),  # extended
        lambda: "".join(rng.choices(CODE_CHARS, k=rng.randrange(1, 30))) + code,
        lambda: code[:24] + other[24:],  # another code's signature
        lambda: other[:24] + code[24:],
        lambda: code[:half] + code[half + 1 :],  # a character dropped
        lambda: code[::-1],
        lambda: code.swapcase(),
        lambda: code.upper() if rng.random() < 0.5 else code.lower(),
        lambda: recase(code),
        lambda: insert(code, rng.choice(FOREIGN)),
        lambda: "".join(rng.choice(FOREIGN) if rng.random() < 0.2 else c for c in code),
        lambda: insert(code, rng.choice(INVISIBLE)),
        lambda: insert(code, rng.choice(ODD)),
        lambda: code * rng.randrange(2, 40),  # very long
        lambda: rng.choice(CODE_CHARS) * rng.randrange(CODE_LENGTH + 1, 20_000),
        lambda: "".join(rng.choices(CODE_CHARS, k=CODE_LENGTH)),  # random, the right shape
        lambda: "".join(rng.choices(CODE_CHARS, k=rng.randrange(1, 200))),
        lambda: "".join(chr(rng.randrange(0xA1, 0x2FFF)) for _ in range(CODE_LENGTH)),
        lambda: f"https://t.me/chatlink_bot?start={code}",
    ]
    while True:
        candidate = rng.choice(kinds)()
        sent = as_sent(candidate)
        if sent and sent != code and sent != "link" and "\x00" not in candidate:
            yield candidate


def distinct(source: Iterator[str], count: int, keep: Callable[[str], bool] = bool) -> list[str]:
    found: dict[str, None] = {}
    for candidate in source:
        if keep(candidate):
            found[candidate] = None
            if len(found) == count:
                return list(found)
    raise AssertionError("unreachable")


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read from the SQLite file on a connection of its own."""
    path = db.sqlite_path
    assert path is not None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"'), key=repr) for t in tables}


def counted(app: Chatlink, metric: str, outcome: str) -> float:
    value = app.metrics.registry.get_sample_value(f"{metric}_total", {"outcome": outcome})
    return value or 0.0


async def bearer(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await http.post("/api/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def failure_said(frame: dict[str, str]) -> str | None:
    """The text of a WebSocket frame that reports a failure: an error frame from the door,
    or a reply of kind "error" from the core."""
    if frame["type"] == "error":
        return frame["detail"]
    if frame["type"] == "reply" and frame["kind"] == "error":
        return frame["text"]
    return None


class _AnyEcho:
    """Equal to any echo of "hello" (whatever it says it remembers)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("Echo: hello")


ANY_ECHO: Any = _AnyEcho()


# --- brute force: link codes -----------------------------------------------------------------


async def test_ten_thousand_mutated_codes_in_chat_change_nothing(
    open_app: OpenApp, clock: FakeClock
) -> None:
    # Codes here outlive the hour a link-attempt limit lasts, so the real one still works then.
    async with open_app(link_code_ttl_minutes=120) as app:
        alice = await app.accounts.register("alice", PASSWORD)
        # Codes that are validly signed but not usable here: used, expired, the other direction.
        used = (await app.links.issue_for_account(alice.id)).code
        await app.links.redeem_in_chat(used, "discord", "alice-discord", "Alice")
        expired = (await app.links.issue_for_account(alice.id)).code
        clock.advance(minutes=app.settings.link_code_ttl_minutes, seconds=1)
        chat_first = (await app.links.issue_for_identity("telegram", "42", "Victim", "42")).code
        real = (await app.links.issue_for_account(alice.id)).code
        never_stored, _ = LinkCodeCodec(SECRET).make(Purpose.ACCOUNT_FIRST, clock() + timedelta(1))
        foreign_key, _ = LinkCodeCodec(SECRET + "-other").make(Purpose.ACCOUNT_FIRST, clock())
        before = snapshot(app.db)

        # 10,000 guesses, 20 (the limit) from each of 500 people: mutations of the real code, and
        # codes signed well but never issued, or signed with another key.
        per_identity = app.links.attempts_per_hour
        total = 10_000
        assert total % per_identity == 0
        rng = random.Random(8)
        guesses = [never_stored, foreign_key] * 25 + distinct(
            mutations(real, never_stored, rng), total - 50
        )
        rng.shuffle(guesses)
        people = [str(500_000 + n) for n in range(total // per_identity)]

        async def guess_all(person: int) -> list[tuple[str, ReplyKind]]:
            mine = guesses[person * per_identity : (person + 1) * per_identity]
            answers = []
            for n, code in enumerate(mine):
                command = "/link" if n % 2 else "/start"  # /start CODE is Telegram's deep link
                [reply] = await app.core.handle(dm(f"{command} {code}", people[person]))
                answers.append((reply.text, reply.kind))
            return answers

        # A few people at a time: each one's guesses go in order, as a chat would send them.
        answered: list[tuple[str, ReplyKind]] = []
        queue = iter(range(len(people)))

        async def worker() -> None:
            for person in queue:
                answered.extend(await guess_all(person))

        await asyncio.gather(*(worker() for _ in range(3)))
        assert len(answered) == total
        assert set(answered) == {(CodeInvalid.text, ReplyKind.REJECTED)}
        assert counted(app, "chatlink_link_attempts", "refused") == total

        # Real codes that cannot be used (spent, expired, for the web) are refused as such, and
        # are no guesses: sent far past the limit, they are never rate limited.
        holder = "424242"
        for code, says in [(used, CodeUsed.text), (expired, CodeExpired.text)] * per_identity:
            [reply] = await app.core.handle(dm(f"/link {code}", holder))
            assert (reply.text, reply.kind) == (says, ReplyKind.REJECTED)
        [reply] = await app.core.handle(dm(f"/link {chat_first}", holder))
        assert reply.text.startswith("That code finishes on the web page"), reply.text
        # Nothing changed: no identity linked, the real code unused, not a row different.
        assert snapshot(app.db) == before

        # Each of the 500 is at the limit now: even the real code is refused, and stays unused.
        for person in people:
            [reply] = await app.core.handle(dm(f"/link {real}", person))
            assert reply.text.startswith("Too many link attempts. Try again in"), reply.text
        assert counted(app, "chatlink_link_attempts", "limited") == len(people)
        assert snapshot(app.db) == before

        # An hour later the limit has let go: the real code links, once.
        clock.advance(seconds=3600 + 1)
        [linked] = await app.core.handle(dm(f"/link {real}", people[7]))
        assert linked.text.startswith("Linked! This chat now belongs to account alice"), linked.text
        identity = await app.accounts.store.identity("telegram", people[7])
        assert identity is not None and identity.account_id == alice.id
        [again] = await app.core.handle(dm(f"/link {real}", people[8]))
        assert again.text == CodeUsed.text
        assert await app.accounts.store.identity("telegram", people[8]) is None


async def test_guessing_codes_on_the_web_is_limited(
    app: Chatlink, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    for name in ("alice", "mallory"):
        await app.accounts.register(name, PASSWORD)
    alice, mallory = await bearer(http, "alice"), await bearer(http, "mallory")
    # Alice's chat asked for a code; Mallory guesses at it through the API.
    real = (await app.links.issue_for_identity("telegram", "1001", "Alice", "1001")).code
    other, _ = LinkCodeCodec(SECRET).make(Purpose.CHAT_FIRST, app.links.clock())
    limit = app.links.attempts_per_hour

    def fits_a_path(code: str) -> bool:  # "/" ends a path segment; uvicorn takes 16 KB lines
        return "/" not in code and len(quote(code, safe="")) < 8000

    guesses = distinct(mutations(real, other, random.Random(9)), 2 * limit, fits_a_path)
    before = snapshot(app.db)
    statuses = []
    for code in guesses[:limit]:
        response = await http.post(f"/api/links/{quote(code, safe='')}", headers=mallory)
        statuses.append(response.status_code)
        assert response.json() == {"detail": CodeInvalid.text}
    assert statuses == [400] * limit
    # At the limit: the real code is refused too (429, saying when), and stays unused.
    response = await http.post(f"/api/links/{real}", headers=mallory)
    assert response.status_code == 429, response.text
    assert "Too many link attempts" in response.json()["detail"]
    assert 3500 <= int(response.headers["Retry-After"]) <= 3600
    assert snapshot(app.db) == before

    # The link page counts per client address (uvicorn takes it from X-Forwarded-For here).
    page = {"X-Forwarded-For": "203.0.113.7"}
    for code in guesses[limit:]:
        response = await http.get(f"/link/{quote(code, safe='')}", headers=page)
        assert response.status_code == 400 and "not valid" in response.text
    response = await http.get(f"/link/{real}", headers=page)
    assert response.status_code == 429 and "Too many link attempts" in response.text
    assert "Alice" not in response.text  # a limited try learns nothing about the code
    assert snapshot(app.db) == before

    # Alice, who was never limited, confirms her code.
    response = await http.post(f"/api/links/{real}", headers=alice)
    assert response.status_code == 200, response.text
    assert response.json()["platform"] == "telegram"
    # An hour on, Mallory is answered again (and the code is spent).
    clock.advance(seconds=3600 + 1)
    response = await http.post(f"/api/links/{real}", headers=mallory)
    assert response.status_code == 409 and response.json() == {"detail": CodeUsed.text}
    response = await http.get(f"/link/{guesses[0]}", headers=page)
    assert response.status_code == 400


# --- brute force: a password -----------------------------------------------------------------


def wrong_passwords(rng: random.Random, count: int) -> list[str]:
    """Guesses that are all well-formed (8 to 1024 bytes), so each counts against the name."""
    near = [
        PASSWORD.upper(), PASSWORD.title(), PASSWORD + " ", " " + PASSWORD, PASSWORD[:-1],
        PASSWORD + "!", PASSWORD.replace(" ", ""), PASSWORD.replace("o", "о"),  # Cyrillic о
        PASSWORD[::-1], "password", "12345678", "é" * 512, "🙂" * 256, "\u200b" * 8 + PASSWORD,
    ]  # fmt: skip
    while len(near) < count:
        near.append("".join(rng.choices(string.printable.strip(), k=rng.randrange(8, 64))))
    return near[:count]


async def test_password_brute_force_locks_out_then_the_password_works(
    app: Chatlink, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    settings = app.settings
    await app.accounts.register("alice", PASSWORD)
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    owner = {"X-Forwarded-For": "198.51.100.5"}

    async def token(password: str, headers: dict[str, str], username: str = "alice") -> int:
        data = {"username": username, "password": password}
        response = await http.post("/api/token", data=data, headers=headers)
        assert PASSWORD not in response.text
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
        return response.status_code

    # 60 guesses at once from one address: only LOGIN_MAX_FAILURES of them are ever checked.
    guesses = wrong_passwords(random.Random(3), 60)
    statuses = await asyncio.gather(*(token(g, attacker) for g in guesses))
    failures = settings.login_max_failures
    assert sorted(statuses) == [401] * failures + [429] * (60 - failures)
    assert counted(app, "chatlink_login_attempts", "failed") == failures
    assert counted(app, "chatlink_login_attempts", "limited") == 60 - failures

    # Locked: the real password is refused too, from any address, in any spelling of the name.
    assert await token(PASSWORD, attacker) == 429
    assert await token(PASSWORD, owner) == 429
    assert await token(PASSWORD, owner, "ALICE") == 429
    rotating = [await token(g, {"X-Forwarded-For": f"192.0.2.{n}"}) for n, g in enumerate(guesses)]
    assert set(rotating) == {429}
    with pytest.raises(RateLimited, match="Too many failed logins"):
        await app.accounts.authenticate(" Alice ", PASSWORD)
    assert counted(app, "chatlink_login_attempts", "failed") == failures  # no more checking

    lockout_s = settings.login_lockout_minutes * 60
    clock.advance(seconds=lockout_s - 60)
    assert await token(PASSWORD, owner) == 429  # not over yet
    clock.advance(seconds=61)
    assert await token(PASSWORD, owner) == 200
    # The success cleared the count: a typo is a plain failure again.
    assert await token("not the password", owner) == 401
    assert await token(PASSWORD, attacker) == 200

    # The same run through bot.accounts.service (as the link page and the CLI call it).
    outcomes = await asyncio.gather(
        *(app.accounts.authenticate("alice", g) for g in guesses[:20]), return_exceptions=True
    )
    names = sorted(type(o).__name__ for o in outcomes)
    assert names == ["LoginFailed"] * failures + ["RateLimited"] * (20 - failures)
    with pytest.raises(RateLimited, match="Too many failed logins"):
        await app.accounts.authenticate("alice", PASSWORD)
    clock.advance(seconds=lockout_s + 1)
    assert (await app.accounts.authenticate("alice", PASSWORD)).username == "alice"


# --- the database refusing writes mid-run ------------------------------------------------------

Fault = Callable[[Database], AbstractAsyncContextManager[None]]
FAULTS = {
    # SQLITE_READONLY fails every write; SQLITE_FULL only those that need a new page, so
    # there the message is longer than a page (4 KiB), and registering (a short row) is left
    # out. Each: (the fault, the message that is lost, the cause logged, every write fails).
    "read-only": (
        sqlite_faults.read_only,
        "lost words",
        "attempt to write a readonly database",
        True,
    ),
    "disk full": (
        sqlite_faults.disk_full,
        " ".join(["lost words"] * 500),
        "database or disk is full",
        False,
    ),
}


async def history(http: httpx.AsyncClient, headers: dict[str, str]) -> list[tuple[str, str]]:
    response = await http.get("/api/history", headers=headers)
    assert response.status_code == 200
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


@pytest.mark.parametrize("fault", FAULTS)
async def test_database_refusing_writes_mid_run(
    app: Chatlink, web: WebDoor, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:  # fmt: skip
    make_fault, lost, cause, every_write = FAULTS[fault]
    failures = 3 if every_write else 2
    await app.accounts.register("alice", PASSWORD)
    alice = await bearer(http, "alice")
    response = await http.post("/api/chat", json={"message": "hello"}, headers=alice)
    assert response.status_code == 200
    await app.core.replier.usage_settled()  # its usage row is written after the turn
    socket_url = f"ws://127.0.0.1:{web.port}/api/ws"
    async with connect(socket_url, additional_headers=alice) as socket:
        before = snapshot(app.db)
        caplog.clear()
        caplog.set_level(logging.INFO)
        async with make_fault(app.db):
            # The API: 503 with a short answer saying so, nothing else.
            response = await http.post("/api/chat", json={"message": lost}, headers=alice)
            assert response.status_code == 503
            assert response.json() == {"detail": STORAGE_FAILED}
            # The WebSocket: the same answer, and the socket stays open.
            await socket.send(json.dumps({"message": lost}))
            assert failure_said(json.loads(await socket.recv())) == STORAGE_FAILED
            if every_write:  # any other write too: registering a new account
                response = await http.post(
                    "/api/register", json={"username": "bob", "password": PASSWORD}
                )
                assert response.status_code == 503 and response.json() == {"detail": STORAGE_FAILED}
            # Reading still works, and the door stays up.
            assert await history(http, alice) == [("user", "hello"), ("assistant", ANY_ECHO)]
            # ... while /healthz says the database is failing (issue #19: it said ok).
            health = await http.get("/healthz")
            assert health.status_code == 503, health.text
            assert health.json()["database"].startswith("failing: writes fail")
            assert cause in health.json()["database"]
            # One clear line per failure, naming the cause; no traceback, no message text.
            errors = errors_logged(caplog)
            assert len(errors) == failures, [r.getMessage() for r in errors]
            assert all(cause in r.getMessage() and r.exc_info is None for r in errors)
            assert "lost words" not in caplog.text and "Traceback" not in caplog.text
            # Nothing half-stored.
            assert snapshot(app.db) == before
            # No loop retrying behind the scenes: while idle, nothing more is logged.
            await asyncio.sleep(1.0)
            assert len(errors_logged(caplog)) == failures

        # Writable again: the next messages work and are stored; the lost one is not there.
        response = await http.post("/api/chat", json={"message": "again"}, headers=alice)
        assert response.status_code == 200, response.text
        assert (await http.get("/healthz")).json()["database"] == "ok"  # one write worked
        reply = response.json()["reply"]
        assert '(I remember 2 earlier messages here.)\n(Before this you said: "hello")' in reply
        await socket.send(json.dumps({"message": lost}))
        frame = json.loads(await socket.recv())
        while frame["type"] == "chunk":
            frame = json.loads(await socket.recv())
        assert frame["type"] == "reply" and frame["kind"] == "model"
    assert [m for _, m in await history(http, alice)][::2] == ["hello", "again", lost]
    assert len(errors_logged(caplog)) == failures


async def test_any_other_failure_gets_the_apology(
    app: Chatlink, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await register_on_the_page(http, "alice")  # logged in with a session cookie, too
    alice = await bearer(http, "alice")

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug, holding something private")

    monkeypatch.setattr(app.core.memory, "page", broken)
    caplog.set_level(logging.INFO)
    # A bug is a 500, not a 503: retrying the same request would meet the same bug.
    response = await http.get("/api/history", headers=alice)
    assert response.status_code == 500 and response.json() == {"detail": APOLOGY}
    page = await http.get("/chat")  # a page: the error page, with the apology
    assert page.status_code == 500 and APOLOGY in page.text and "<html" in page.text
    assert [r.getMessage() for r in errors_logged(caplog)] == [
        "web: GET /api/history failed: RuntimeError",
        "web: GET /chat failed: RuntimeError",
    ]
    assert "private" not in caplog.text and "Traceback" not in caplog.text


async def test_database_turns_read_only_while_the_model_writes(
    app: Chatlink,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    scripted: ScriptedModel,
) -> None:
    await app.accounts.register("alice", PASSWORD)
    alice = await bearer(http, "alice")
    assert (await http.post("/api/chat", json={"message": "hello"}, headers=alice)).is_success
    gate = asyncio.Event()
    slow = SlowStream(["Half ", "a reply"], delay=0, gate=gate)
    scripted.plans.append(slow)  # for the next reply only: the echo answers after it
    caplog.set_level(logging.INFO)
    asking = asyncio.create_task(
        http.post("/api/chat", json={"message": "meanwhile"}, headers=alice)
    )
    await asyncio.wait_for(slow.at_gate.wait(), 30)  # the message is stored by now
    async with sqlite_faults.read_only(app.db):
        gate.set()
        response = await asking
        assert response.status_code == 503 and response.json() == {"detail": STORAGE_FAILED}
    [error] = errors_logged(caplog)
    assert "attempt to write a readonly database" in error.getMessage()
    # The message stays (as when the model fails), no half reply is stored.
    assert await history(http, alice) == [
        ("user", "hello"), ("assistant", ANY_ECHO), ("user", "meanwhile"),
    ]  # fmt: skip
    response = await http.post("/api/chat", json={"message": "and now"}, headers=alice)
    assert response.status_code == 200
    assert '(Before this you said: "meanwhile")' in response.json()["reply"]
    assert [role for role, _ in await history(http, alice)] == [
        "user", "assistant", "user", "user", "assistant",
    ]  # fmt: skip


async def test_core_answers_when_the_database_refuses_writes(
    app: Chatlink, caplog: pytest.LogCaptureFixture
) -> None:
    # What every chat door (Telegram, Discord) gets from the core: an answer, not an error.
    await link_account_first(app, "alice")
    await app.core.handle(dm("hello"))
    await app.core.replier.usage_settled()  # its usage row is written after the turn
    caplog.set_level(logging.INFO)
    before = snapshot(app.db)
    async with sqlite_faults.disk_full(app.db):
        replies = await app.core.handle(dm("lost words " * 500))
    assert [(r.kind, r.text) for r in replies] == [(ReplyKind.ERROR, STORAGE_FAILED)]
    [error] = errors_logged(caplog)
    assert "database or disk is full" in error.getMessage()
    assert "lost words" not in caplog.text
    assert snapshot(app.db) == before
    [reply] = await app.core.handle(dm("again"))
    assert reply.kind is ReplyKind.MODEL and '(Before this you said: "hello")' in reply.text


async def test_database_errors_carry_no_message_text(app: Chatlink) -> None:
    # Whoever logs a database error with its traceback must not log what the person wrote.
    alice = await link_account_first(app, "alice")
    thread = await app.core.memory.thread(alice.id, "private")
    secret = "my bank PIN is 4321. " * 300
    async with sqlite_faults.disk_full(app.db):
        try:
            await app.core.memory.remember(thread, "user", secret, Platform.TELEGRAM.value)
        except Exception as exc:
            # What a door's log.exception() would write.
            logged = logging.Formatter().formatException((type(exc), exc, exc.__traceback__))
        else:
            pytest.fail("the write went through")
    assert "database or disk is full" in logged
    assert "4321" not in logged
