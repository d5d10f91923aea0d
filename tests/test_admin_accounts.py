"""The admin page's account tools: promote, demote, reset-password, and the guards that keep
an admin from locking themselves (or everyone) out."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.app import Chatlink
from bot.errors import LoginFailed
from tests.support.settings import PASSWORD
from tests.support.web import post_form
from tests.test_operators import admin_web, login

__all__ = ["admin_web"]  # the fixture, used by name below


def notice_of(text: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


async def acted(admin: httpx.AsyncClient, target: str) -> str:
    """Post one admin form and return the text of the page it leads back to."""
    response = await post_form(admin, "/admin", target)
    assert response.status_code == 303, response.text
    return notice_of((await admin.get(response.headers["location"])).text)


async def test_promote_demote_and_the_guards(admin_web: tuple[Chatlink, str]) -> None:
    app, base = admin_web
    await app.accounts.register("root", PASSWORD, by_operator=True)
    await app.admin.set_admin("cli", "root", True)
    await app.accounts.register("alice", PASSWORD, by_operator=True)
    admin = await login(base, "root")
    try:
        # the last admin, and oneself: neither demoted nor disabled
        for path in ("/admin/accounts/root/demote", "/admin/accounts/root/disable"):
            assert "your own account" in await acted(admin, path), path
        root = await app.accounts.by_username("root")
        assert root is not None and root.is_admin and not root.disabled

        await post_form(admin, "/admin", "/admin/accounts/alice/promote")
        alice = await app.accounts.by_username("alice")
        assert alice is not None and alice.is_admin
        assert "already an admin" in await acted(admin, "/admin/accounts/alice/promote")
        audit = [e.action for e in await app.admin.audit_log() if e.target == "alice"]
        assert audit.count("account.promote") == 1
        await post_form(admin, "/admin", "/admin/accounts/alice/demote")
        alice = await app.accounts.by_username("alice")
        assert alice is not None and not alice.is_admin
    finally:
        await admin.aclose()


async def test_the_last_admin_cannot_be_demoted_by_another(admin_web: tuple[Chatlink, str]) -> None:
    app, _ = admin_web
    root = await app.accounts.register("root", PASSWORD, by_operator=True)
    other = await app.accounts.register("other", PASSWORD, by_operator=True)
    await app.admin.set_admin("cli", "root", True)
    with pytest.raises(Exception, match="last admin"):
        await app.admin.set_admin("other", "root", False, by=other)
    # the command line is the operator's way back in: no guard there
    _, changed = await app.admin.set_admin("cli", root.username, False)
    assert changed


async def test_reset_password_shows_a_temporary_one_once(admin_web: tuple[Chatlink, str]) -> None:
    app, base = admin_web
    await app.accounts.register("root", PASSWORD, by_operator=True)
    await app.admin.set_admin("cli", "root", True)
    await app.accounts.register("alice", PASSWORD, by_operator=True)
    alice_session = await login(base, "alice")
    admin = await login(base, "root")
    try:
        page = await post_form(admin, "/admin", "/admin/accounts/alice/reset-password")
        found = re.search(r'id="new-password">.*?<pre>([^<]+)</pre>', page.text, re.S)
        assert found, page.text
        temporary = found.group(1)
        await app.accounts.authenticate("alice", temporary)
        with pytest.raises(LoginFailed):
            await app.accounts.authenticate("alice", PASSWORD)
        # her old session ended with the old password
        assert (await alice_session.get("/account")).status_code in (302, 303, 401)
        later = await admin.get("/admin")
        assert temporary not in later.text
        assert "No account named" in await acted(admin, "/admin/accounts/nobody/reset-password")
    finally:
        await admin.aclose()
        await alice_session.aclose()
