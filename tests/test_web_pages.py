"""The server-rendered pages, driven over HTTP like a browser without JavaScript."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import httpx
import pytest

from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.messages import Platform
from tests.support.people import dm
from tests.support.settings import PASSWORD, make_settings
from tests.support.web import post_form
from tests.support.web import register_on_the_page as register


async def test_register_logs_in_with_a_safe_cookie(http: httpx.AsyncClient) -> None:
    response = await register(http)
    assert response.status_code == 303 and response.headers["location"] == "/chat"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    chat = await http.get("/chat")
    assert chat.status_code == 200 and "Welcome, alice!" in chat.text


async def test_cookie_is_secure_behind_https(tmp_path: object) -> None:
    from pathlib import Path

    settings = make_settings(Path(str(tmp_path)), public_url="https://chat.example.org")
    async with open_chatlink(settings) as app:
        door = WebDoor(app)
        await door.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{door.port}") as http:
                page = await http.get("/login")
                assert "secure" in page.headers["set-cookie"].lower()
        finally:
            await door.stop()


async def test_forms_without_csrf_token_are_refused(http: httpx.AsyncClient, app: Chatlink) -> None:
    await http.get("/register")
    form = {"username": "alice", "password": PASSWORD, "password_repeat": PASSWORD}
    for token in ({}, {"csrf_token": "forged"}):
        response = await http.post("/register", data=form | token)
        assert response.status_code == 403 and "expired" in response.text
    assert await app.accounts.by_username("alice") is None
    # a fresh client with no session at all
    async with httpx.AsyncClient(base_url=str(http.base_url), trust_env=False) as stranger:
        refused = await stranger.post("/register", data=form | {"csrf_token": ""})
        assert refused.status_code == 403


async def test_register_errors_rerender_the_form(http: httpx.AsyncClient) -> None:
    await register(http)
    async with httpx.AsyncClient(base_url=str(http.base_url), trust_env=False) as other:
        taken = await register(other, "ALICE")
        assert taken.status_code == 409 and "not available" in taken.text
        mismatch = await post_form(
            other, "/register", "/register",
            username="bob", password=PASSWORD, password_repeat=PASSWORD + "x",
        )  # fmt: skip
        assert mismatch.status_code == 422 and "do not match" in mismatch.text
        assert PASSWORD not in mismatch.text


async def test_login_is_generic_and_never_echoes_the_password(http: httpx.AsyncClient) -> None:
    await register(http)
    async with httpx.AsyncClient(base_url=str(http.base_url), trust_env=False) as other:
        wrong = await post_form(other, "/login", "/login", username="alice", password="x" * 9)
        nobody = await post_form(other, "/login", "/login", username="zed", password="x" * 9)
        assert wrong.status_code == nobody.status_code == 401
        assert "Wrong username or password." in wrong.text and "x" * 9 not in wrong.text
        ok = await post_form(
            other, "/login?next=/account", "/login", username="alice", password=PASSWORD,
            next="/account",
        )  # fmt: skip
        assert ok.status_code == 303 and ok.headers["location"] == "/account"
        evil = await post_form(
            other, "/login", "/login", username="alice", password=PASSWORD,
            next="//evil.example/",
        )  # fmt: skip
        assert evil.headers["location"] == "/chat"


async def test_pages_need_a_login(http: httpx.AsyncClient) -> None:
    for path in ("/account", "/chat", "/account/export"):
        response = await http.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


async def test_chat_first_link_page(http: httpx.AsyncClient, app: Chatlink) -> None:
    sent: list[tuple[str, str]] = []

    async def send(chat_id: str, text: str) -> None:
        sent.append((chat_id, text))

    app.senders.register("telegram", send)
    [reply] = await app.core.handle(dm("/link", "1001", display_name="Alice on TG"))
    code = reply.text.split()[-1]
    page = await http.get(f"/link/{code}")
    assert page.status_code == 200
    assert "Telegram" in page.text and "Alice on TG" in page.text
    done = await post_form(
        http, f"/link/{code}", f"/link/{code}", action="register",
        username="alice", password=PASSWORD, password_repeat=PASSWORD,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/account"
    account = await http.get("/account")
    assert "telegram chat is now linked to alice" in account.text
    assert "Alice on TG" in account.text
    assert sent == [("1001", sent[0][1])] and "linked to account alice" in sent[0][1]
    used = await http.get(f"/link/{code}")
    assert used.status_code == 409 and "already used" in used.text
    bad = await http.get("/link/not-a-code")
    assert bad.status_code == 400 and "not valid" in bad.text


async def test_link_page_when_logged_in_confirms(http: httpx.AsyncClient, app: Chatlink) -> None:
    await register(http)
    [reply] = await app.core.handle(dm("/link", "d-1", Platform.DISCORD, "al#1"))
    code = reply.text.split()[-1]
    page = await http.get(f"/link/{code}")
    assert "Link to alice" in page.text and "(id d-1)" in page.text
    assert "Only continue if you sent" in page.text
    wrong = await post_form(
        http, f"/link/{code}", f"/link/{code}", action="confirm", password="not it at all"
    )
    assert wrong.status_code == 401
    assert await app.accounts.store.identity("discord", "d-1") is None
    done = await post_form(
        http, f"/link/{code}", f"/link/{code}", action="confirm", password=PASSWORD
    )
    assert done.status_code == 303
    assert (await app.accounts.store.identity("discord", "d-1")) is not None


async def test_account_page_code_unlink_export_delete(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    await register(http)
    page = await post_form(http, "/account", "/account/link-code")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    code = re.search(r"/link ([A-Za-z0-9_-]{51})", page.text)
    assert code, page.text
    assert "valid until" in page.text
    assert code.group(1) not in (await http.get("/account")).text  # shown once
    session = http.cookies["chatlink_session"].split(".")[0]
    assert code.group(1) not in base64.b64decode(session + "==").decode(errors="replace")
    await app.core.handle(dm(f"/link {code.group(1)}", "1001"))
    await app.core.handle(dm("a private thought", "1001"))

    export = await http.get("/account/export")
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    data = json.loads(export.text)
    assert data["account"]["username"] == "alice"
    assert [i["platform"] for i in data["identities"]] == ["telegram"]
    first = data["messages"][0]
    assert (first["role"], first["content"]) == ("user", "a private thought")
    assert "argon2" not in export.text and "password" not in export.text

    deleted = await post_form(http, "/account", "/account/history/delete")
    assert deleted.status_code == 303
    assert "Deleted 2 messages" in (await http.get("/account")).text

    unlinked = await post_form(http, "/account", "/account/identities/telegram/unlink")
    assert unlinked.status_code == 303
    assert "telegram chat is unlinked" in (await http.get("/account")).text
    assert await app.accounts.store.identity("telegram", "1001") is None


async def test_error_pages_keep_the_logged_in_menu(
    http: httpx.AsyncClient, app: Chatlink, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(http)
    menu = "Log out (alice)"
    missing = await http.get("/nowhere")
    assert missing.status_code == 404 and menu in missing.text
    forged = await http.post("/account/password", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and "expired" in forged.text and menu in forged.text
    admins = await http.get("/admin")
    assert admins.status_code == 403 and menu in admins.text

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.core.memory, "count", broken)  # the account page's count
    failed = await http.get("/account")
    assert failed.status_code == 500 and menu in failed.text
    http.cookies.clear()
    assert menu not in (await http.get("/nowhere")).text


async def test_void_my_link_codes(http: httpx.AsyncClient, app: Chatlink) -> None:
    await register(http)
    assert "Void my link codes" not in (await http.get("/account")).text  # none to void
    codes = []
    for _ in range(2):
        issued = await post_form(http, "/account", "/account/link-code")
        codes.append(re.findall(r"/link ([A-Za-z0-9_-]{51})", issued.text)[0])
    account = await http.get("/account")
    assert "2 unused link codes" in account.text
    assert 'data-confirm="Void your 2 unused link codes?' in account.text
    voided = await post_form(http, "/account", "/account/link-codes/void")
    assert voided.status_code == 303
    after = (await http.get("/account")).text
    assert "Voided 2 unused link codes" in after and "Void my link codes" not in after
    [refused] = await app.core.handle(dm(f"/link {codes[0]}", "1001"))
    assert refused.refusal is not None  # already used up: links nothing
    assert await app.accounts.store.identity("telegram", "1001") is None
    again = await post_form(http, "/account", "/account/link-codes/void")
    assert again.status_code == 303
    assert "no unused link codes" in (await http.get("/account")).text


async def test_destructive_buttons_ask_first(http: httpx.AsyncClient, app: Chatlink) -> None:
    await register(http)
    await post_form(http, "/account", "/account/link-code")
    code = (await app.links.issue_for_account(1)).code
    await app.core.handle(dm(f"/link {code}", "1001"))
    page = (await http.get("/account")).text
    for action in (
        "/account/identities/telegram/unlink",
        "/account/link-codes/void",
        "/account/logout-everywhere",
        "/account/history/delete",
        "/account/delete",
    ):
        form = re.search(rf'<form method="post" action="{action}"[^>]*>', page)
        assert form and "data-confirm=" in form.group(0), action
    await app.admin.set_admin("test", "alice", True)
    await app.admin.create_invite("test", 1, timedelta(days=1))
    admin = (await http.get("/admin")).text
    for action in (
        "/admin/accounts/alice/unlink/telegram",
        "/admin/accounts/alice/disable",
        "/admin/accounts/alice/demote",
        "/admin/accounts/alice/reset-password",
        "/admin/invites/1/revoke",
        "/admin/link-codes/revoke",
    ):
        form = re.search(rf'<form method="post" action="{action}"[^>]*>', admin)
        assert form and "data-confirm=" in form.group(0), action


async def test_change_password_ends_other_sessions(http: httpx.AsyncClient) -> None:
    await register(http)
    token = (
        await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    ).json()["access_token"]
    async with httpx.AsyncClient(base_url=str(http.base_url), trust_env=False) as other:
        await post_form(other, "/login", "/login", username="alice", password=PASSWORD)
        assert (await other.get("/account")).status_code == 200
        wrong = await post_form(
            http, "/account", "/account/password", current_password="wrong one",
            new_password="new passphrase", new_password_repeat="new passphrase",
        )  # fmt: skip
        assert wrong.status_code == 303
        assert "current password is wrong" in (await http.get("/account")).text
        changed = await post_form(
            http, "/account", "/account/password", current_password=PASSWORD,
            new_password="new passphrase", new_password_repeat="new passphrase",
        )  # fmt: skip
        assert changed.status_code == 303
        assert (await http.get("/account")).status_code == 200  # this session stays
        assert (await other.get("/account")).status_code == 303  # the other one ended
    me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_chat_without_javascript(http: httpx.AsyncClient) -> None:
    await register(http)
    sent = await post_form(http, "/chat", "/chat", message="hello <b>there</b>")
    assert sent.status_code == 303
    page = await http.get("/chat")
    assert "hello &lt;b&gt;there&lt;/b&gt;" in page.text  # escaped, never markup
    assert "Echo: hello" in page.text
    refused = await post_form(http, "/chat", "/chat", message="x" * 9000)
    assert refused.status_code == 303
    assert "too long" in (await http.get("/chat")).text
    await post_form(http, "/chat", "/chat", message="/help")
    helped = (await http.get("/chat")).text
    assert '<div class="notice rich" role="status"><h2>What I can do</h2>' in helped
    assert "<table>" in helped and "**" not in helped


async def test_logout(http: httpx.AsyncClient) -> None:
    await register(http)
    out = await post_form(http, "/chat", "/logout")
    assert out.status_code == 303
    assert (await http.get("/chat")).status_code == 303


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/nope"])
async def test_security_headers_on_pages(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_tampered_session_cookie_is_ignored(http: httpx.AsyncClient) -> None:
    await register(http)
    cookie = http.cookies["chatlink_session"]
    payload, _, signature = cookie.partition(".")
    forged = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB") + "." + signature
    http.cookies.clear()
    http.cookies.set("chatlink_session", forged, domain="127.0.0.1")
    assert (await http.get("/account")).status_code == 303  # back to the login page
