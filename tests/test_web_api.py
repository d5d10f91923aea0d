"""The HTTP API over real HTTP (uvicorn on 127.0.0.1), driven by httpx and a WebSocket client."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.web import WebDoor
from adapters.web.security import ApiTokens, TokenError
from bot.app import Chatlink
from bot.messages import Platform
from tests.support.people import dm
from tests.support.settings import PASSWORD, SECRET

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


async def register(http: httpx.AsyncClient, username: str = "alice") -> dict[str, object]:
    response = await http.post("/api/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def bearer(http: httpx.AsyncClient, username: str = "alice") -> dict[str, str]:
    response = await http.post("/api/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_register_token_me(http: httpx.AsyncClient) -> None:
    created = await register(http, "Alice")
    assert created["username"] == "alice"
    assert "password" not in json.dumps(created) and "hash" not in json.dumps(created)
    me = await http.get("/api/me", headers=await bearer(http, "ALICE"))
    assert me.status_code == 200
    assert me.json()["username"] == "alice" and me.json()["identities"] == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"username": "alice", "password": PASSWORD}, 409, "not available"),
        ({"username": "é" * 60, "password": PASSWORD}, 422, "3-32 characters"),
        ({"username": "bob", "password": "short"}, 422, "at least 8"),
        ({"username": "bob", "password": "x" * 2000}, 422, "at most 1024 bytes"),
        ({"username": 123, "password": PASSWORD}, 422, "username"),
        ({"username": "bob"}, 422, "password"),
        ({"username": "bob", "password": PASSWORD, "admin": True}, 422, "admin"),
        ([], 422, "Invalid request"),
    ],
)
async def test_register_refusals(
    http: httpx.AsyncClient, body: object, status: int, says: str
) -> None:
    await register(http)
    response = await http.post("/api/register", json=body)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert PASSWORD not in response.text  # inputs are never echoed back


async def test_malformed_json_and_oversized_bodies(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "detail" in response.json()
    huge = {"username": "bob", "password": "p" * 70_000}
    response = await http.post("/api/register", json=huge)
    assert response.status_code == 413 and "too large" in response.json()["detail"]

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 8192

    response = await http.post(
        "/api/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_login_errors_are_generic_and_rate_limited(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    await register(http)
    wrong = await http.post("/api/token", data={"username": "alice", "password": "nope nope"})
    unknown = await http.post("/api/token", data={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Wrong username or password."}
    for _ in range(app.settings.login_max_failures - 1):
        await http.post("/api/token", data={"username": "alice", "password": "nope nope"})
    locked = await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


async def test_per_address_limit(http: httpx.AsyncClient, app: Chatlink) -> None:
    statuses = [
        (
            await http.post("/api/token", data={"username": f"u{n}", "password": "whatever1"})
        ).status_code
        for n in range(app.settings.auth_attempts_per_minute + 1)
    ]
    assert statuses[:-1] == [401] * app.settings.auth_attempts_per_minute
    assert statuses[-1] == 429


async def test_bad_tokens_are_refused(http: httpx.AsyncClient) -> None:
    await register(http)
    good = await bearer(http)
    expired = ApiTokens(SECRET, timedelta(seconds=-5))
    other_key = ApiTokens(SECRET + "x", timedelta(minutes=5))
    me = (await http.get("/api/me", headers=good)).json()
    from storage import Account

    account = Account(me["id"], "alice", "", False, None)  # type: ignore[arg-type]
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        {"Authorization": f"Bearer {expired.issue(account)}"},
        {"Authorization": f"Bearer {other_key.issue(account)}"},
        {"Authorization": good["Authorization"][:-2] + "xx"},
    ):
        response = await http.get("/api/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_is_verified_once_and_refused_past_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    import jwt

    from bot.accounts import credential_version
    from storage import Account

    decoded: list[str] = []
    real_decode = jwt.decode

    def counted(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counted)
    now = [time.time()]
    tokens = ApiTokens(SECRET, timedelta(seconds=60), remembered=2, clock=lambda: now[0])
    alice = Account(7, "alice", "h", False, None)  # type: ignore[arg-type]
    token = tokens.issue(alice)
    assert tokens.read(token) == tokens.read(token) == (7, credential_version(alice))
    assert decoded == [token]  # the second read took the checked result
    forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    for _ in range(2):
        with pytest.raises(TokenError):
            tokens.read(forged)
    assert decoded == [token, forged, forged]  # a refused token is never remembered
    others = [tokens.issue(Account(n, f"u{n}", "h", False, None)) for n in (8, 9)]  # type: ignore[arg-type]
    assert [tokens.read(t)[0] for t in others] == [8, 9]
    assert tokens.read(token)[0] == 7 and decoded[-1] == token  # forgotten past the bound
    now[0] += 61
    with pytest.raises(TokenError):
        tokens.read(others[1])  # remembered, but expired by now


async def test_chat_history_and_delete(http: httpx.AsyncClient) -> None:
    await register(http)
    auth = await bearer(http)
    first = await http.post("/api/chat", json={"message": "I like green tea"}, headers=auth)
    assert first.status_code == 200
    assert first.json()["thread"] == "private" and first.json()["kind"] == "model"
    second = (await http.post("/api/chat", json={"message": "and you?"}, headers=auth)).json()
    assert 'you said: "I like green tea"' in second["reply"]

    page = (await http.get("/api/history?limit=3", headers=auth)).json()
    assert [m["role"] for m in page["messages"]] == ["assistant", "user", "assistant"]
    older = (
        await http.get(f"/api/history?limit=3&before={page['next_before']}", headers=auth)
    ).json()
    assert [m["content"] for m in older["messages"]] == ["I like green tea"]
    assert older["next_before"] is None

    for bad in ("limit=0", "limit=201", "limit=abc", "before=-1", "before=99999999999999999999"):
        assert (await http.get(f"/api/history?{bad}", headers=auth)).status_code == 422

    deleted = await http.delete("/api/history", headers=auth)
    assert deleted.json() == {"deleted": 4}
    assert (await http.get("/api/history", headers=auth)).json()["messages"] == []


async def test_history_reads_with_the_page_session_but_changes_nothing_with_it(
    http: httpx.AsyncClient,
) -> None:
    from tests.support.web import register_on_the_page

    await register_on_the_page(http)  # the cookie jar now holds alice's session
    auth = await bearer(http)
    await http.post("/api/chat", json={"message": "demo markdown"}, headers=auth)
    by_cookie = await http.get("/api/history?limit=1")
    assert by_cookie.status_code == 200, by_cookie.text
    [reply] = by_cookie.json()["messages"]
    assert reply["role"] == "assistant" and "<strong>bold</strong>" in reply["html"]
    assert "<script" not in reply["html"]
    user = (await http.get(f"/api/history?limit=1&before={reply['id']}")).json()["messages"]
    assert user[0]["content"] == "demo markdown" and user[0]["html"] is None
    # Reading by cookie, yes; erasing by cookie, no (it carries no CSRF token).
    assert (await http.delete("/api/history")).status_code == 401
    assert (await http.post("/api/link-codes")).status_code == 401
    assert len((await http.get("/api/history", headers=auth)).json()["messages"]) == 2
    http.cookies.clear()
    assert (await http.get("/api/history")).status_code == 401


@pytest.mark.parametrize(
    ("message", "status"),
    [("", 422), ("   ", 422), ("x" * 8001, 422), (None, 422), (42, 422)],
)
async def test_chat_bad_input_stores_nothing(
    http: httpx.AsyncClient, message: object, status: int
) -> None:
    await register(http)
    auth = await bearer(http)
    response = await http.post("/api/chat", json={"message": message}, headers=auth)
    assert response.status_code == status
    assert (await http.get("/api/history", headers=auth)).json()["messages"] == []


async def test_accounts_never_see_each_other(http: httpx.AsyncClient) -> None:
    await register(http, "alice")
    await register(http, "bob")
    alice, bob = await bearer(http, "alice"), await bearer(http, "bob")
    await http.post("/api/chat", json={"message": "alice's secret"}, headers=alice)
    bob_history = (await http.get("/api/history", headers=bob)).json()["messages"]
    assert bob_history == []
    reply = (await http.post("/api/chat", json={"message": "hi"}, headers=bob)).json()["reply"]
    assert "secret" not in reply


async def test_account_first_link_and_one_thread(http: httpx.AsyncClient, app: Chatlink) -> None:
    await register(http)
    auth = await bearer(http)
    issued = await http.post("/api/link-codes", headers=auth)
    assert issued.status_code == 201
    body = issued.json()
    assert body["command"] == f"/link {body['code']}" and body["telegram_deep_link"] is None
    [linked] = await app.core.handle(dm(body["command"], "1001"))
    assert "alice" in linked.text
    me = (await http.get("/api/me", headers=auth)).json()
    assert [(i["platform"], i["display_name"]) for i in me["identities"]] == [
        ("telegram", "Alice A.")
    ]
    # the same private thread from Telegram and from the API
    await app.core.handle(dm("said on telegram", "1001"))
    reply = (await http.post("/api/chat", json={"message": "hi"}, headers=auth)).json()
    assert 'you said: "said on telegram"' in reply["reply"]
    [on_telegram] = await app.core.handle(dm("and now?", "1001"))
    assert 'you said: "hi"' in on_telegram.text


async def test_telegram_deep_link_when_username_known(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    async def send(chat_id: str, text: str) -> None:
        pass

    app.senders.register("telegram", send, username="chatlink_bot")
    await register(http)
    body = (await http.post("/api/link-codes", headers=await bearer(http))).json()
    assert body["telegram_deep_link"] == f"https://t.me/chatlink_bot?start={body['code']}"


async def test_confirm_chat_first_code(http: httpx.AsyncClient, app: Chatlink) -> None:
    sent: list[tuple[str, str]] = []

    async def send(chat_id: str, text: str) -> None:
        sent.append((chat_id, text))

    app.senders.register("discord", send)
    await register(http)
    auth = await bearer(http)
    [reply] = await app.core.handle(dm("/link", "d-9", Platform.DISCORD, "Al#9"))
    code = reply.text.split()[-1]
    confirmed = await http.post(f"/api/links/{code}", headers=auth)
    assert confirmed.status_code == 200
    assert confirmed.json() == {"platform": "discord", "display_name": "Al#9"}
    assert sent and sent[0][0] == "d-9" and "linked to account alice" in sent[0][1]
    again = await http.post(f"/api/links/{code}", headers=auth)
    assert again.status_code == 409 and "already used" in again.json()["detail"]
    assert (await http.post(f"/api/links/{code[:-3]}abc", headers=auth)).status_code == 400
    account_code = (await http.post("/api/link-codes", headers=auth)).json()["code"]
    wrong = await http.post(f"/api/links/{account_code}", headers=auth)
    assert wrong.status_code == 400 and "for a chat" in wrong.json()["detail"]


async def test_unlink_identity(http: httpx.AsyncClient, app: Chatlink) -> None:
    await register(http)
    auth = await bearer(http)
    code = (await http.post("/api/link-codes", headers=auth)).json()["code"]
    await app.core.handle(dm(f"/link {code}", "1001"))
    assert (await http.delete("/api/identities/telegram", headers=auth)).status_code == 204
    assert (await http.delete("/api/identities/telegram", headers=auth)).status_code == 404
    assert (await http.delete("/api/identities/myspace", headers=auth)).status_code == 422
    [reply] = await app.core.handle(dm("hello", "1001"))
    assert "not linked" in reply.text


async def test_websocket_streams_the_reply(http: httpx.AsyncClient, web: WebDoor) -> None:
    await register(http)
    auth = await bearer(http)
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    async with connect(url, additional_headers=auth) as socket:
        await socket.send(json.dumps({"message": "stream me"}))
        chunks: list[str] = []
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == "reply":
                break
            assert frame["type"] == "chunk"
            chunks.append(frame["text"])
        assert len(chunks) >= 2 and "".join(chunks) == frame["text"]
        assert frame["kind"] == "model" and frame["text"].startswith("Echo: stream me")
        await socket.send("not json")
        assert json.loads(await socket.recv())["type"] == "error"
        await socket.send(json.dumps({"message": ""}))
        refused = json.loads(await socket.recv())
        assert refused == {
            "type": "reply",
            "text": "Send me some text.",
            "kind": "rejected",
            "last": True,
        }


async def test_a_message_sent_again_with_its_id_is_answered_once(
    http: httpx.AsyncClient, web: WebDoor
) -> None:
    await register(http)
    auth = await bearer(http)
    url = f"ws://127.0.0.1:{web.port}/api/ws"

    async def answer(socket: object, frame: dict[str, str]) -> list[dict[str, object]]:
        await socket.send(json.dumps(frame))  # type: ignore[attr-defined]
        frames = [json.loads(await socket.recv())]  # type: ignore[attr-defined]
        while not frames[-1].get("last"):
            frames.append(json.loads(await socket.recv()))  # type: ignore[attr-defined]
        return [f for f in frames if f["type"] == "reply"]

    async with connect(url, additional_headers=auth) as socket:
        [first] = await answer(socket, {"message": "only once", "id": "a1_B-2"})
        assert first["id"] == "a1_B-2" and first["last"] is True and first["kind"] == "model"
    # The connection broke before the page saw the answer: it sends the message again.
    async with connect(url, additional_headers=auth) as socket:
        [again] = await answer(socket, {"message": "only once", "id": "a1_B-2"})
        assert again == first
        [other] = await answer(socket, {"message": "only once", "id": "c3"})
        assert other["id"] == "c3" and other["text"] != first["text"]  # a new message
        for bad in ("", "x" * 65, "spaces here", 7):
            await socket.send(json.dumps({"message": "hi", "id": bad}))
            assert json.loads(await socket.recv())["type"] == "error", bad
        [help_reply] = await answer(socket, {"message": "/help", "id": "h"})
        assert help_reply["kind"] == "info" and "<table>" in str(help_reply["html"])
    history = (await http.get("/api/history", headers=auth)).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["only once", "only once"]


async def test_websocket_edge_frames_and_session_end(
    http: httpx.AsyncClient, web: WebDoor, app: Chatlink
) -> None:
    await register(http)
    auth = await bearer(http)
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    async with connect(url, additional_headers=auth) as socket:
        await socket.send(b"\x00binary")
        assert json.loads(await socket.recv())["type"] == "error"
        await socket.send(json.dumps({"message": 5}))
        assert json.loads(await socket.recv())["type"] == "error"
        account = await app.accounts.by_username("alice")
        assert account is not None
        await app.accounts.change_password(account, PASSWORD, "a new passphrase")
        await socket.send(json.dumps({"message": "still me?"}))
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_times_carry_an_offset(http: httpx.AsyncClient) -> None:
    await register(http)
    auth = await bearer(http)
    me = (await http.get("/api/me", headers=auth)).json()
    assert me["created_at"].endswith("Z") or me["created_at"].endswith("+00:00")
    code = (await http.post("/api/link-codes", headers=auth)).json()
    assert code["expires_at"].endswith(("Z", "+00:00"))


async def test_websocket_refuses_strangers(http: httpx.AsyncClient, web: WebDoor) -> None:
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    for headers in ({}, {"Authorization": "Bearer forged"}):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403


async def test_websocket_cookie_needs_our_origin(http: httpx.AsyncClient, web: WebDoor) -> None:
    page = await http.get("/register")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": "alice", "password": PASSWORD, "password_repeat": PASSWORD}
    await http.post("/register", data=form | {"csrf_token": csrf})
    cookie = f"chatlink_session={http.cookies['chatlink_session']}"
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    with pytest.raises(InvalidStatus):
        async with connect(
            url, additional_headers={"Cookie": cookie}, origin="http://evil.example"
        ):  # type: ignore[arg-type]
            pass
    origin = f"http://127.0.0.1:{web.port}"
    async with connect(url, additional_headers={"Cookie": cookie}, origin=origin) as socket:  # type: ignore[arg-type]
        await socket.send(json.dumps({"message": "via cookie"}))
        while (frame := json.loads(await socket.recv()))["type"] != "reply":
            pass
        assert frame["text"].startswith("Echo: via cookie")


async def test_health_and_headers(http: httpx.AsyncClient, app: Chatlink) -> None:
    ok = await http.get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "database": "ok", "redis": "not configured"}
    assert "frame-ancestors 'none'" in ok.headers["Content-Security-Policy"]
    assert ok.headers["X-Content-Type-Options"] == "nosniff"

    async def down() -> None:
        raise OSError("disk on fire")

    app.db.ping = down  # type: ignore[method-assign]
    broken = await http.get("/healthz")
    assert broken.status_code == 503 and broken.json()["database"] == "unreachable"


async def test_docs_are_served_offline(http: httpx.AsyncClient) -> None:
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in docs.text
    assert (await http.get("/docs-static/swagger-ui-bundle.js")).status_code == 200
    schema = (await http.get("/openapi.json")).json()
    paths = set(schema["paths"])
    assert {
        "/api/token", "/api/register", "/api/me", "/api/chat", "/api/history",
        "/api/link-codes", "/api/links/{code}", "/api/identities/{platform}", "/healthz",
    } <= paths  # fmt: skip
    assert not any(p.startswith(("/account", "/link/", "/chat")) for p in paths)


async def test_unknown_api_route_is_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/nope")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


async def test_metrics_move_when_messages_flow(http: httpx.AsyncClient, app: Chatlink) -> None:
    def value(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or (
                line.startswith(name + "{") and line.split(" ")[0] == name
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    await register(http)
    auth = await bearer(http)
    before = (await http.get("/metrics")).text
    await http.post("/api/chat", json={"message": "hello"}, headers=auth)
    await http.post("/api/chat", json={"message": ""}, headers=auth)
    await http.post("/api/token", data={"username": "alice", "password": "wrong one"})
    [reply] = await app.core.handle(dm("/link not-a-code", "77"))
    assert "not valid" in reply.text
    after = await http.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    answered = 'chatlink_messages_total{outcome="answered",platform="web"}'
    refused = 'chatlink_messages_total{outcome="refused",platform="web"}'
    assert value(text, answered) == value(before, answered) + 1
    assert value(text, refused) == value(before, refused) + 1
    assert value(text, 'chatlink_login_attempts_total{outcome="failed"}') >= 1
    assert value(text, 'chatlink_login_attempts_total{outcome="ok"}') >= 1
    assert value(text, 'chatlink_link_attempts_total{outcome="refused"}') == 1
    assert "chatlink_reply_seconds_count 1.0" in text
    assert "/metrics" not in (await http.get("/openapi.json")).text
