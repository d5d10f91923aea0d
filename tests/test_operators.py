"""Operators: registration policy, invites, admins and their audit log (web, API and CLI)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.web import WebDoor
from bot.app import Chatlink, open_chatlink
from bot.errors import InviteInvalid, RegistrationClosed
from tests.support.people import dm, link_account_first
from tests.support.settings import PASSWORD, FakeClock, make_settings
from tests.support.web import csrf_of, post_form

# Invites are used with one conditional UPDATE: prove it on PostgreSQL too (see conftest).
ON_BOTH_DATABASES = True


@pytest.fixture
async def policy_app(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock, database_url: str
) -> AsyncIterator[Chatlink]:
    settings = make_settings(tmp_path, registration=request.param, database_url=database_url)
    async with open_chatlink(settings, clock=clock) as app:
        yield app


@pytest.mark.parametrize("policy_app", ["closed"], indirect=True)
async def test_closed_registration(policy_app: Chatlink) -> None:
    app = policy_app
    with pytest.raises(RegistrationClosed):
        await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_identity("telegram", "1001", "Al", "1001")).code
    with pytest.raises(RegistrationClosed):
        await app.links.complete_with_registration(code, "alice", PASSWORD)
    await app.accounts.register("alice", PASSWORD, by_operator=True)  # `chatlink user add`
    await app.links.complete_with_login(code, "alice", PASSWORD)  # logging in still links


@pytest.mark.parametrize("policy_app", ["invite"], indirect=True)
async def test_invite_registration(policy_app: Chatlink, clock: FakeClock) -> None:
    app = policy_app
    from datetime import timedelta

    with pytest.raises(InviteInvalid):
        await app.accounts.register("alice", PASSWORD)
    with pytest.raises(InviteInvalid):
        await app.accounts.register("alice", PASSWORD, invite="made-up")
    code, _ = await app.admin.create_invite("cli", 2, timedelta(days=7))
    await app.accounts.register("alice", PASSWORD, invite=code)
    await app.accounts.register("bob", PASSWORD, invite=f"  {code} ")
    with pytest.raises(InviteInvalid):  # used up
        await app.accounts.register("carol", PASSWORD, invite=code)
    assert (await app.admin.all_invites())[0].uses == 2

    expiring, _ = await app.admin.create_invite("cli", 5, timedelta(hours=1))
    clock.advance(hours=2)
    with pytest.raises(InviteInvalid):
        await app.accounts.register("carol", PASSWORD, invite=expiring)
    revoked, revoked_invite = await app.admin.create_invite("cli", 5, timedelta(days=1))
    await app.admin.revoke_invite("cli", revoked_invite.id)
    with pytest.raises(InviteInvalid):
        await app.accounts.register("carol", PASSWORD, invite=revoked)

    # a chat-first link with registration needs the invite too, and uses it atomically
    chat = (await app.links.issue_for_identity("discord", "d-1", "Dee", "user:d-1")).code
    with pytest.raises(InviteInvalid):
        await app.links.complete_with_registration(chat, "dee", PASSWORD)
    single, _ = await app.admin.create_invite("cli", 1, timedelta(days=1))
    done = await app.links.complete_with_registration(chat, "dee", PASSWORD, invite=single)
    assert done.account.username == "dee"


@pytest.mark.parametrize("policy_app", ["invite"], indirect=True)
async def test_one_use_invite_under_a_race(policy_app: Chatlink) -> None:
    from datetime import timedelta

    app = policy_app
    code, _ = await app.admin.create_invite("cli", 1, timedelta(days=1))

    async def register(n: int) -> bool:
        try:
            await app.accounts.register(f"user{n}", PASSWORD, invite=code)
        except InviteInvalid:
            return False
        return True

    outcomes = await asyncio.gather(*(register(n) for n in range(8)))
    assert outcomes.count(True) == 1


@pytest.fixture
async def admin_web(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Chatlink, str]]:
    settings = make_settings(tmp_path, registration="invite")
    async with open_chatlink(settings, clock=clock) as app:
        door = WebDoor(app)
        await door.start()
        try:
            yield app, f"http://127.0.0.1:{door.port}"
        finally:
            await door.stop()


async def login(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, trust_env=False, timeout=30)
    response = await post_form(client, "/login", "/login", username=username, password=PASSWORD)
    assert response.status_code == 303, response.text
    return client


async def test_admin_page_actions_and_audit(admin_web: tuple[Chatlink, str]) -> None:
    app, base = admin_web
    await app.accounts.register("root", PASSWORD, by_operator=True)
    await app.admin.set_admin("cli", "root", True)
    alice = await app.accounts.register("alice", PASSWORD, by_operator=True)
    await link_account_first(app, "alice", "1001")
    await app.core.handle(dm("hello", "1001"))
    await app.links.issue_for_account(alice.id)

    audit_before = await app.admin.audit_log()
    outsider = await login(base, "alice")
    try:
        assert (await outsider.get("/admin")).status_code == 403
        page = await outsider.get("/account")
        for path in (
            "/admin/accounts/alice/disable",
            "/admin/invites",
            "/admin/link-codes/revoke",
            "/admin/invites/1/revoke",
            "/admin/accounts/alice/unlink/telegram",
        ):
            refused = await outsider.post(path, data={"csrf_token": csrf_of(page)})
            assert refused.status_code == 403, path  # fmt: skip
        assert "Admin" not in page.text
        assert not (await app.accounts.by_username("alice")).disabled  # type: ignore[union-attr]
        assert await app.admin.all_invites() == [] and await app.admin.audit_log() == audit_before
        assert await app.accounts.store.identity("telegram", "1001") is not None
    finally:
        await outsider.aclose()

    admin = await login(base, "root")
    try:
        page = await admin.get("/admin")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        row = re.search(r'<tr id="account-alice">(.*?)</tr>', page.text, re.S)
        assert row and "telegram" in row.group(1) and "<td>2</td>" in row.group(1)
        made = await admin.post(
            "/admin/invites", data={"csrf_token": csrf_of(page), "uses": "3", "expires": "2d"}
        )
        code = re.search(
            r'<div class="code" id="new-invite">.*?<pre>([^<]+)</pre>', made.text, re.S
        )
        assert code, made.text
        new = await app.accounts.register("newbie", PASSWORD, invite=code.group(1))
        assert new.username == "newbie"
        bad = await admin.post(
            "/admin/invites", data={"csrf_token": csrf_of(page), "uses": "0", "expires": "2d"}
        )
        assert bad.status_code == 303
        assert (await post_form(admin, "/admin", "/admin/link-codes/revoke")).status_code == 303
        assert (await app.links.codes.pending(app.links.clock(), account_id=alice.id)) == []
        await post_form(admin, "/admin", "/admin/accounts/alice/disable")
        [reply] = await app.core.handle(dm("still here?", "1001"))
        assert "disabled" in reply.text
        await post_form(admin, "/admin", "/admin/accounts/alice/enable")
        await post_form(admin, "/admin", "/admin/accounts/alice/unlink/telegram")
        assert await app.accounts.store.identity("telegram", "1001") is None
        forged = await admin.post("/admin/accounts/alice/disable", data={"csrf_token": "x"})
        assert forged.status_code == 403
        audit = re.search(
            r'<ul class="identities" id="audit">(.*?)</ul>', (await admin.get("/admin")).text, re.S
        )
        assert audit is not None
        actions = re.findall(r"· (root|cli) · ([a-z.-]+) ·", audit.group(1))
        assert ("root", "invite.create") in actions and ("root", "link-codes.revoke") in actions
        assert ("root", "account.disable") in actions and ("root", "account.enable") in actions
        assert ("root", "identity.unlink") in actions and ("cli", "account.promote") in actions
    finally:
        await admin.aclose()


async def test_api_registration_follows_the_policy(admin_web: tuple[Chatlink, str]) -> None:
    from datetime import timedelta

    app, base = admin_web
    async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
        body = {"username": "eve", "password": PASSWORD}
        missing = await client.post("/api/register", json=body)
        assert missing.status_code == 403 and "invite" in missing.json()["detail"]
        code, _ = await app.admin.create_invite("cli", 1, timedelta(days=1))
        ok = await client.post(
            "/api/register", json={"username": "eve", "password": PASSWORD, "invite": code}
        )
        assert ok.status_code == 201
        page = await client.get("/register")
        assert 'name="invite"' in page.text
