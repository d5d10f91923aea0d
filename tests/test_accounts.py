"""Accounts: validation, case-insensitive usernames, generic login errors, lockout."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.accounts import PasswordHasher
from bot.app import Chatlink
from bot.errors import InputRejected, LoginFailed, RateLimited, UsernameUnavailable
from tests.support.settings import PASSWORD

# The storage and core suites run on SQLite and on PostgreSQL (see conftest).
ON_BOTH_DATABASES = True


async def test_register_and_login_case_insensitive(app: Chatlink) -> None:
    account = await app.accounts.register("Alice", PASSWORD)
    assert account.username == "alice"
    assert account.password_hash.startswith("$argon2")
    assert PASSWORD not in account.password_hash
    assert (await app.accounts.authenticate("ALICE", PASSWORD)).id == account.id
    with pytest.raises(UsernameUnavailable):
        await app.accounts.register("aLiCe", "another password")


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "ünïcödé" * 9,  # 63 characters of unicode
        "名前" * 30,
        "alice bob",
        "alice@example",
        "\u212aelvin",  # KELVIN SIGN lower-cases to ASCII "k": must not alias "kelvin"
        "",
        "'; DROP TABLE accounts;--",
    ],
)
async def test_bad_usernames_are_refused_and_store_nothing(app: Chatlink, username: str) -> None:
    with pytest.raises(InputRejected, match="3-32 characters"):
        await app.accounts.register(username, PASSWORD)
    assert await app.accounts.store.all() == []


async def test_sixty_character_unicode_username(app: Chatlink) -> None:
    name = "é" * 60
    assert len(name) == 60
    with pytest.raises(InputRejected):
        await app.accounts.register(name, PASSWORD)
    with pytest.raises(LoginFailed):
        await app.accounts.authenticate(name, PASSWORD)


async def test_password_bounds(app: Chatlink) -> None:
    with pytest.raises(InputRejected, match="at least 8"):
        await app.accounts.register("alice", "short")
    two_megabytes = "x" * (2 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(InputRejected, match="at most 1024 bytes"):
        await app.accounts.register("alice", two_megabytes)
    # refused before hashing, not after minutes of argon2 over 2 MB
    assert time.perf_counter() - started < 5
    with pytest.raises(LoginFailed):
        await app.accounts.authenticate("alice", two_megabytes)
    # 1024 bytes exactly is allowed, multi-byte characters counted as bytes
    await app.accounts.register("alice", "é" * 512)
    with pytest.raises(InputRejected):
        await app.accounts.register("bob", "é" * 513)
    assert [a.username for a in await app.accounts.store.all()] == ["alice"]


async def test_login_failures_are_generic(app: Chatlink) -> None:
    await app.accounts.register("alice", PASSWORD)
    with pytest.raises(LoginFailed) as wrong_password:
        await app.accounts.authenticate("alice", "wrong password")
    with pytest.raises(LoginFailed) as no_such_user:
        await app.accounts.authenticate("nobody", PASSWORD)
    assert str(wrong_password.value) == str(no_such_user.value) == "Wrong username or password."


async def test_a_failed_login_logs_the_account_id_never_the_password(
    app: Chatlink, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    caplog.set_level(logging.INFO, logger="bot.accounts")
    with pytest.raises(LoginFailed):
        await app.accounts.authenticate("alice", "wrong password")
    with pytest.raises(LoginFailed):
        await app.accounts.authenticate("nobody", "other password")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("login failed")]
    assert lines == [f"login failed: account_id={alice.id}", "login failed: no such account"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "password" not in logged and "nobody" not in logged


async def test_login_lockout_per_username(app: Chatlink) -> None:
    await app.accounts.register("alice", PASSWORD)
    for _ in range(app.settings.login_max_failures):
        with pytest.raises(LoginFailed):
            await app.accounts.authenticate("alice", "wrong password")
    # now even the right password is refused, with a time to wait
    with pytest.raises(RateLimited, match=r"Try again in \d+ minutes"):
        await app.accounts.authenticate("Alice", PASSWORD)
    # the lockout is per username: other accounts are unaffected, unknown names too
    await app.accounts.register("bob", PASSWORD)
    assert (await app.accounts.authenticate("bob", PASSWORD)).username == "bob"


async def test_success_resets_failure_count(app: Chatlink) -> None:
    await app.accounts.register("alice", PASSWORD)
    for _ in range(3):
        for _ in range(app.settings.login_max_failures - 1):
            with pytest.raises(LoginFailed):
                await app.accounts.authenticate("alice", "wrong password")
        await app.accounts.authenticate("alice", PASSWORD)


async def test_disabled_account_cannot_log_in(app: Chatlink) -> None:
    from bot.errors import AccountDisabled

    await app.accounts.register("alice", PASSWORD)
    await app.accounts.set_disabled("alice", True)
    with pytest.raises(AccountDisabled):
        await app.accounts.authenticate("alice", PASSWORD)
    await app.accounts.set_disabled("ALICE", False)
    await app.accounts.authenticate("alice", PASSWORD)
    with pytest.raises(InputRejected, match="No account"):
        await app.accounts.set_disabled("nobody", True)


async def test_hashing_runs_off_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    with PasswordHasher() as hasher:
        await asyncio.gather(*(hasher.hash(PASSWORD) for _ in range(4)))
    elapsed = time.perf_counter() - started
    task.cancel()
    # the loop kept ticking while four hashes ran: at least a third of the ideal tick count
    assert ticks >= (elapsed / 0.005) / 3, (ticks, elapsed)


async def test_change_password(app: Chatlink) -> None:
    account = await app.accounts.register("alice", PASSWORD)
    with pytest.raises(LoginFailed):
        await app.accounts.change_password(account, "not the password", "a brand new password")
    with pytest.raises(InputRejected):
        await app.accounts.change_password(account, PASSWORD, "short")
    updated = await app.accounts.change_password(account, PASSWORD, "a brand new password")
    assert updated.password_hash != account.password_hash
    with pytest.raises(LoginFailed):
        await app.accounts.authenticate("alice", PASSWORD)
    await app.accounts.authenticate("alice", "a brand new password")


async def test_parallel_guesses_cannot_pass_the_lockout(app: Chatlink) -> None:
    await app.accounts.register("alice", PASSWORD)
    limit = app.settings.login_max_failures

    async def guess(n: int) -> str:
        try:
            await app.accounts.authenticate("alice", f"wrong guess {n}")
        except LoginFailed:
            return "verified"
        except RateLimited:
            return "refused"
        return "ok"

    outcomes = await asyncio.gather(*(guess(n) for n in range(20)))
    assert outcomes.count("verified") == limit and outcomes.count("refused") == 20 - limit
