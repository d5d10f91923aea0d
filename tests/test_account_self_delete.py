"""A person deletes their own account on the web page: password first, then all of it goes."""

from __future__ import annotations

import httpx

from bot.app import Chatlink
from tests.support.people import dm
from tests.support.settings import PASSWORD
from tests.support.web import post_form, register_on_the_page


async def test_deleting_my_account_takes_everything_with_it(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    await register_on_the_page(http)
    alice = await app.accounts.by_username("alice")
    assert alice is not None
    code = await app.links.issue_for_account(alice.id)
    await app.core.handle(dm(f"/link {code.code}", "1001"))
    await app.core.handle(dm("a private thought", "1001"))
    unused = await app.links.issue_for_account(alice.id)

    wrong = await post_form(http, "/account", "/account/delete", password="not " + PASSWORD)
    assert wrong.status_code == 303
    assert "password is wrong" in (await http.get("/account")).text
    assert await app.accounts.by_username("alice") is not None  # nothing changed
    assert await app.core.memory.count(alice.id) == 2

    done = await post_form(http, "/account", "/account/delete", password=PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "account and everything in it are deleted" in (await http.get("/")).text
    assert await app.accounts.by_username("alice") is None
    assert await app.accounts.store.identity("telegram", "1001") is None
    assert await app.core.memory.count(alice.id) == 0
    assert (await http.get("/account")).status_code in (303, 307)  # logged out
    [reply] = await app.core.handle(dm(f"/link {unused.code}", "1001"))
    assert "alice" not in reply.text  # the account's codes went too
    await register_on_the_page(http)  # and the name is free again
    assert await app.accounts.by_username("alice") is not None
