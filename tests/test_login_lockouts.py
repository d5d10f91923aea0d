"""Login lockouts per (username, client address) with a growing back-off, a looser cap per
username that never locks out a right password from a clean address, and the operator's
unlock (in process and through `chatlink user unlock`)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.accounts import PasswordHasher
from bot.app import Chatlink, open_chatlink
from bot.errors import Busy, LoginFailed, RateLimited
from tests.support.app import OpenApp
from tests.support.settings import PASSWORD, FakeClock, make_settings
from tests.test_cli import chatlink as run_cli

WRONG = "wrong password!"


async def fail(app: Chatlink, client: str, times: int = 1, name: str = "victim1") -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            await app.accounts.authenticate(name, WRONG, client=client)


async def test_failures_from_many_addresses_do_not_lock_out_a_fresh_one(app: Chatlink) -> None:
    await app.accounts.register("victim1", PASSWORD)
    for n in range(app.settings.login_max_failures):
        await fail(app, f"198.51.100.{n}")
    account = await app.accounts.authenticate("victim1", PASSWORD, client="203.0.113.9")
    assert account.username == "victim1"


async def test_one_address_is_locked_out_the_others_are_not(app: Chatlink) -> None:
    await app.accounts.register("victim1", PASSWORD)
    await fail(app, "198.51.100.1", app.settings.login_max_failures)
    with pytest.raises(RateLimited, match=r"Try again in \d+ minutes"):
        await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
    assert await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.2")


async def test_the_back_off_grows(app: Chatlink, clock: FakeClock) -> None:
    await app.accounts.register("victim1", PASSWORD)
    limit, minutes = app.settings.login_max_failures, app.settings.login_lockout_minutes
    await fail(app, "198.51.100.1", limit)
    clock.advance(minutes=minutes + 1)  # the first lockout is over...
    await fail(app, "198.51.100.1", limit)
    clock.advance(minutes=minutes + 1)  # ...the second one lasts longer
    with pytest.raises(RateLimited):
        await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
    clock.advance(minutes=4 * minutes)
    assert await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")


async def test_the_username_cap_slows_without_locking_out(open_app: OpenApp) -> None:
    async with open_app(login_username_max_failures=3) as app:
        await app.accounts.register("victim1", PASSWORD)
        for n in range(3):
            await fail(app, f"198.51.100.{n}")
        # Past the cap each address gets one try: a wrong one, then a refusal.
        await fail(app, "198.51.100.7")
        with pytest.raises(RateLimited):
            await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.7")
        # The right password from an address that has not failed still gets in, every time.
        for _ in range(3):
            assert await app.accounts.authenticate("victim1", PASSWORD, client="203.0.113.9")


async def test_operator_unlock_ends_a_lockout(app: Chatlink) -> None:
    await app.accounts.register("victim1", PASSWORD)
    await fail(app, "198.51.100.1", app.settings.login_max_failures)
    with pytest.raises(RateLimited):
        await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
    await app.admin.unlock("cli", "Victim1")
    assert await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
    assert (await app.admin.audit_log())[0].action == "account.unlock"


async def test_chatlink_user_unlock(tmp_path: Path) -> None:
    run_cli(tmp_path, "user", "add", "victim1", stdin=PASSWORD + "\n")
    url = f"sqlite+aiosqlite:///{tmp_path}/data/chatlink.db"
    async with open_chatlink(make_settings(tmp_path, database_url=url)) as app:
        await fail(app, "198.51.100.1", app.settings.login_max_failures)
        with pytest.raises(RateLimited):
            await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
        # Another process unlocks: the counts this one keeps are keyed by the unlock.
        done = run_cli(tmp_path, "user", "unlock", "victim1")
        assert "victim1" in done.stdout
        assert await app.accounts.authenticate("victim1", PASSWORD, client="198.51.100.1")
    missing = run_cli(tmp_path, "user", "unlock", "nobody", check=False)
    assert missing.returncode != 0 and "nobody" in missing.stderr


async def test_the_password_queue_is_bounded() -> None:
    gate = threading.Event()
    with PasswordHasher(max_queue=1) as hasher:
        # The one slot is held by a check that waits on the gate.
        held = asyncio.ensure_future(hasher._off_loop(lambda: gate.wait(30)))
        await asyncio.sleep(0)  # one step of the loop puts it in the slot
        assert hasher.full
        with pytest.raises(Busy) as busy:
            await hasher.hash(PASSWORD)
        assert busy.value.retry_after_s >= 1
        gate.set()
        await held
        assert not hasher.full
        assert await hasher.hash(PASSWORD)
