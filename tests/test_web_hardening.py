"""The web door's hardening (issue 18), attacked over real HTTP as an outsider would:
sessions that end, trusted hosts and origins, forwarded headers, oracles, headers, frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.errors import InputRejected
from bot.operations import parse_duration
from tests.support.app import OpenApp
from tests.support.settings import PASSWORD, FakeClock
from tests.support.web import post_form, register_on_the_page

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


@asynccontextmanager
async def served(
    open_app: OpenApp, **settings: object
) -> AsyncIterator[tuple[Chatlink, WebDoor, httpx.AsyncClient]]:
    """The core and a web door on settings of their own, and a client for it."""
    async with open_app(**settings) as app:
        door = WebDoor(app)
        await door.start()
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{door.port}", trust_env=False, timeout=30
            ) as client:
                yield app, door, client
        finally:
            await door.stop()


def other_client(http: httpx.AsyncClient, cookie: str | None = None) -> httpx.AsyncClient:
    """A second browser, optionally holding a copy of a session cookie."""
    cookies = {"chatlink_session": cookie} if cookie else None
    return httpx.AsyncClient(base_url=http.base_url, trust_env=False, timeout=30, cookies=cookies)


async def test_a_cookie_copied_before_logout_is_dead_after(http: httpx.AsyncClient) -> None:
    await register_on_the_page(http)
    copied = http.cookies["chatlink_session"]
    await post_form(http, "/account", "/logout")
    async with other_client(http, copied) as thief:
        replay = await thief.get("/account")
        assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


async def test_log_out_everywhere(http: httpx.AsyncClient) -> None:
    await register_on_the_page(http)
    async with other_client(http) as laptop:
        await post_form(
            laptop, "/login", "/login", username="alice", password=PASSWORD, next="/account"
        )
        assert (await laptop.get("/account")).status_code == 200
        done = await post_form(http, "/account", "/account/logout-everywhere")
        assert done.status_code == 303
        assert (await laptop.get("/account")).status_code == 303
        assert (await http.get("/account")).status_code == 303


async def test_sessions_end_when_idle_and_when_old(open_app: OpenApp, clock: FakeClock) -> None:
    async with served(open_app, session_idle_minutes=60, session_absolute_days=1) as (
        _app,
        _,
        http,
    ):
        await register_on_the_page(http)
        for _ in range(3):  # used every 50 minutes: idle never, until a day has passed
            clock.advance(minutes=50)
            assert (await http.get("/account")).status_code == 200
        clock.advance(hours=22)
        assert (await http.get("/account")).status_code == 303
        await post_form(
            http, "/login", "/login", username="alice", password=PASSWORD, next="/account"
        )
        clock.advance(minutes=61)
        assert (await http.get("/account")).status_code == 303


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/metrics"), ("POST", "/api/register"), ("GET", "/admin/")]
)
async def test_foreign_hosts_are_refused(http: httpx.AsyncClient, method: str, path: str) -> None:
    body = {"username": "rebound", "password": PASSWORD}
    answer = await http.request(
        method, path, headers={"Host": "rebind.attacker.example"},
        json=body if method == "POST" else None,
    )  # fmt: skip
    assert answer.status_code == 400
    assert "attacker" not in answer.headers.get("location", "")
    assert (await http.get("/metrics")).status_code == 200  # our own name still works


async def test_websocket_origin_is_never_taken_from_host(open_app: OpenApp) -> None:
    async with served(open_app, allowed_hosts=["*"]) as (_app, door, http):
        await register_on_the_page(http)
        cookie = f"chatlink_session={http.cookies['chatlink_session']}"
        # The page of a rebinding domain: Host and Origin both name it.
        rebound = f"evil.example:{door.port}"
        with pytest.raises(InvalidStatus):
            async with connect(
                f"ws://{rebound}/api/ws", host="127.0.0.1", port=door.port,
                additional_headers={"Cookie": cookie}, origin=f"http://{rebound}",  # type: ignore[arg-type]
            ):  # fmt: skip
                pass
        ours = f"http://127.0.0.1:{door.port}"
        async with connect(
            f"ws://127.0.0.1:{door.port}/api/ws", additional_headers={"Cookie": cookie},
            origin=ours,  # type: ignore[arg-type]
        ) as socket:  # fmt: skip
            await socket.send(json.dumps({"message": "from our page"}))
            assert json.loads(await socket.recv())["type"] in ("chunk", "reply")


async def test_forwarded_for_is_not_believed_by_default(open_app: OpenApp) -> None:
    async with served(open_app, auth_attempts_per_minute=3) as (_app, _, http):
        answers = [
            await http.post(
                "/api/register",
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                json={"username": f"rotator{n}", "password": PASSWORD},
            )
            for n in range(4)
        ]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]


async def test_forwarded_for_from_the_proxy_must_be_addresses(open_app: OpenApp) -> None:
    async with served(open_app, forwarded_allow_ips=["127.0.0.1"]) as (_app, _, http):
        fake = {"X-Forwarded-For": '1.2.3.4 "GET /admin HTTP/1.1" 200'}
        assert (await http.get("/healthz", headers=fake)).status_code == 400
        real = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
        assert (await http.get("/healthz", headers=real)).status_code == 200
        # Behind a proxy every request is "from this machine": metrics need the token.
        assert (await http.get("/metrics")).status_code == 403


async def test_invite_mode_tells_nothing_about_names(open_app: OpenApp) -> None:
    async with served(open_app, registration="invite") as (app, _, http):
        await app.admin.add_account("cli", "taken", PASSWORD)
        answers = [
            await http.post(
                "/api/register", json={"username": name, "password": PASSWORD, "invite": "bogus"}
            )
            for name in ("taken", "free-name")
        ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json()


async def test_a_disabled_account_does_not_reveal_its_password(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    await app.accounts.register("alice", PASSWORD)
    await app.accounts.set_disabled("alice", True)
    right = await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    wrong = await http.post("/api/token", data={"username": "alice", "password": "not it at all"})
    assert right.status_code == wrong.status_code == 403
    assert right.json() == wrong.json()


async def test_passwords_of_only_spaces_are_refused(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/register", json={"username": "alice", "password": " " * 12})
    assert answer.status_code == 422 and "spaces" in answer.json()["detail"]


async def test_no_store_and_hsts(http: httpx.AsyncClient, open_app: OpenApp) -> None:
    await register_on_the_page(http)
    for path in ("/chat", "/account"):
        assert (await http.get(path)).headers["cache-control"] == "no-store"
    token = await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    assert token.headers["cache-control"] == "no-store"
    assert "no-store" not in (await http.get("/static/chat.js")).headers.get("cache-control", "")
    assert "strict-transport-security" not in (await http.get("/healthz")).headers
    async with served(open_app, public_url="https://chat.example.org") as (_app, _, secure):
        assert "max-age=" in (await secure.get("/healthz")).headers["strict-transport-security"]


async def test_the_audit_log_stores_the_account_name(app: Chatlink) -> None:
    await app.accounts.register("bob", PASSWORD)
    for raw in ("bob\n", "Bob\u2028"):
        await app.admin.set_disabled("cli", raw, True)
    assert [entry.target for entry in await app.admin.audit_log()] == ["bob", "bob"]


async def test_durations_are_bounded(http: httpx.AsyncClient, app: Chatlink) -> None:
    with pytest.raises(InputRejected):
        parse_duration("999999999d")
    await register_on_the_page(http)
    await app.admin.set_admin("cli", "alice", True)
    answer = await post_form(http, "/admin", "/admin/invites", uses="1", expires="999999999d")
    assert answer.status_code == 303
    assert "at most" in (await http.get("/admin")).text


@pytest.mark.parametrize("frame", ["[" * 10_000 + "]" * 10_000, '{"message": "\\ud800"}'])
async def test_websocket_frames_that_are_not_text_get_the_error_frame(
    http: httpx.AsyncClient, web: WebDoor, app: Chatlink, frame: str
) -> None:
    await http.post("/api/register", json={"username": "alice", "password": PASSWORD})
    token = (await http.post("/api/token", data={"username": "alice", "password": PASSWORD})).json()
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    async with connect(url, additional_headers=headers) as socket:
        await socket.send(frame)
        answer = json.loads(await socket.recv())
        assert answer["type"] == "error" and "UTF-8" in answer["detail"]
        await socket.send(json.dumps({"message": "still here"}))
        while (reply := json.loads(await socket.recv()))["type"] != "reply":
            pass
        assert reply["text"].startswith("Echo: still here")
    account = await app.accounts.by_username("alice")
    assert account is not None and await app.core.memory.count(account.id) == 2
