"""Link codes: format, both directions, single use under a race, and every refusal."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from bot.app import Chatlink
from bot.errors import (
    AlreadyLinked,
    CodeExpired,
    CodeInvalid,
    CodeUsed,
    CodeWrongDirection,
    LoginFailed,
    PlatformTaken,
    RateLimited,
    TooManyCodes,
    UsernameUnavailable,
)
from bot.linking.codec import LinkCodeCodec, Purpose
from bot.messages import Platform
from tests.support.app import OpenApp
from tests.support.people import dm, link_account_first
from tests.support.settings import PASSWORD, SECRET, FakeClock

# The storage and core suites run on SQLite and on PostgreSQL (see conftest).
ON_BOTH_DATABASES = True

DEEP_LINK = re.compile(r"[A-Za-z0-9_-]{1,64}")


def test_codes_fit_a_telegram_deep_link(clock: FakeClock) -> None:
    codec = LinkCodeCodec(SECRET)
    codes = {codec.make(Purpose.ACCOUNT_FIRST, clock())[0] for _ in range(200)}
    assert len(codes) == 200
    assert all(DEEP_LINK.fullmatch(code) for code in codes)


def test_every_single_character_change_is_refused(clock: FakeClock) -> None:
    codec = LinkCodeCodec(SECRET)
    code, nonce = codec.make(Purpose.ACCOUNT_FIRST, clock())
    assert codec.decode(code).nonce == nonce
    alphabet = "AQgw_-09"
    for index in range(len(code)):
        for char in alphabet:
            if char == code[index]:
                continue
            tampered = code[:index] + char + code[index + 1 :]
            with pytest.raises(CodeInvalid):
                codec.decode(tampered)
    for bad in ("", code[:-1], code + "A", " " * 51, "é" * 51, code.replace(code[5], ".")):
        with pytest.raises(CodeInvalid):
            codec.decode(bad)
    # a code signed with another key is refused too
    with pytest.raises(CodeInvalid):
        LinkCodeCodec(SECRET + "-other").decode(code)


async def test_account_first_link(app: Chatlink) -> None:
    account = await app.accounts.register("alice", PASSWORD)
    issued = await app.links.issue_for_account(account.id)
    assert issued.purpose is Purpose.ACCOUNT_FIRST
    linked = await app.links.redeem_in_chat(issued.code, "telegram", "1001", "Alice")
    assert linked.id == account.id
    identity = await app.accounts.store.identity("telegram", "1001")
    assert identity is not None and identity.account_id == account.id
    with pytest.raises(CodeUsed):
        await app.links.redeem_in_chat(issued.code, "discord", "2002", "Alice")
    assert await app.accounts.store.identity("discord", "2002") is None


async def test_expired_code_is_refused(app: Chatlink, clock: FakeClock) -> None:
    account = await app.accounts.register("alice", PASSWORD)
    issued = await app.links.issue_for_account(account.id)
    clock.advance(minutes=app.settings.link_code_ttl_minutes, seconds=1)
    with pytest.raises(CodeExpired):
        await app.links.redeem_in_chat(issued.code, "telegram", "1001", "Alice")
    assert await app.accounts.store.identity("telegram", "1001") is None


async def test_wrong_direction_each_way(app: Chatlink) -> None:
    account = await app.accounts.register("alice", PASSWORD)
    account_code = (await app.links.issue_for_account(account.id)).code
    chat_code = (await app.links.issue_for_identity("telegram", "1001", "Al", "1001")).code
    with pytest.raises(CodeWrongDirection, match="web page"):
        await app.links.redeem_in_chat(chat_code, "telegram", "1001", "Al")
    with pytest.raises(CodeWrongDirection, match="for a chat"):
        await app.links.complete_with_login(account_code, "alice", PASSWORD)
    # neither code was spent by the wrong attempt
    await app.links.redeem_in_chat(account_code, "discord", "2002", "Al")
    await app.links.complete_with_login(chat_code, "alice", PASSWORD)


async def test_chat_first_link_with_registration(app: Chatlink) -> None:
    issued = await app.links.issue_for_identity("discord", "2002", "Bob#1", "dm-2002")
    request = await app.links.describe_chat_request(issued.code)
    assert (request.platform, request.display_name) == ("discord", "Bob#1")
    done = await app.links.complete_with_registration(issued.code, "Bob", PASSWORD)
    assert done.account.username == "bob" and done.chat_id == "dm-2002"
    assert (await app.accounts.authenticate("bob", PASSWORD)).id == done.account.id
    with pytest.raises(CodeUsed):
        await app.links.describe_chat_request(issued.code)


async def test_chat_first_registration_with_taken_name_changes_nothing(app: Chatlink) -> None:
    await app.accounts.register("bob", PASSWORD)
    issued = await app.links.issue_for_identity("discord", "2002", "Bob", "2002")
    with pytest.raises(UsernameUnavailable):
        await app.links.complete_with_registration(issued.code, "BOB", PASSWORD)
    # the code is still usable and nothing was linked
    assert await app.accounts.store.identity("discord", "2002") is None
    await app.links.complete_with_registration(issued.code, "bobby", PASSWORD)


async def test_chat_first_link_with_login(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    issued = await app.links.issue_for_identity("telegram", "1001", "Alice", "1001")
    with pytest.raises(LoginFailed):
        await app.links.complete_with_login(issued.code, "alice", "wrong password")
    done = await app.links.complete_with_login(issued.code, "alice", PASSWORD)
    assert done.account.id == alice.id and done.identity.platform == "telegram"


async def test_identity_linked_elsewhere_moves_only_after_unlink(app: Chatlink) -> None:
    await link_account_first(app, "alice", "1001")
    bob = await app.accounts.register("bob", PASSWORD)
    code = (await app.links.issue_for_account(bob.id)).code
    with pytest.raises(AlreadyLinked, match="/unlink"):
        await app.links.redeem_in_chat(code, "telegram", "1001", "Alice")
    replies = await app.core.handle(dm("/unlink", "1001"))
    assert "Unlinked from account alice" in replies[0].text
    # the refused attempt did not spend the code
    assert (await app.links.redeem_in_chat(code, "telegram", "1001", "Alice")).username == "bob"


async def test_one_identity_per_platform_per_account(app: Chatlink) -> None:
    alice = await link_account_first(app, "alice", "1001")
    code = (await app.links.issue_for_account(alice.id)).code
    with pytest.raises(PlatformTaken, match="already has a telegram chat"):
        await app.links.redeem_in_chat(code, "telegram", "9999", "Mallory")
    await app.links.redeem_in_chat(code, "discord", "2002", "Alice")


async def test_fifty_concurrent_redemptions_one_winner(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    code = (await app.links.issue_for_account(alice.id)).code

    async def redeem(n: int) -> str:
        try:
            await app.links.redeem_in_chat(code, "discord", f"user-{n}", f"u{n}")
        except CodeUsed:
            return "used"
        return "linked"

    outcomes = await asyncio.gather(*(redeem(n) for n in range(50)))
    assert outcomes.count("linked") == 1 and outcomes.count("used") == 49
    assert len(await app.accounts.store.identities_of(alice.id)) == 1


async def test_fifty_concurrent_web_completions_one_winner(app: Chatlink) -> None:
    accounts = [await app.accounts.register(f"user{n}", PASSWORD) for n in range(3)]
    code = (await app.links.issue_for_identity("telegram", "1001", "A", "1001")).code

    async def complete(n: int) -> str:
        try:
            await app.links.complete_for_account(code, accounts[n % 3])
        except CodeUsed:
            return "used"
        return "linked"

    outcomes = await asyncio.gather(*(complete(n) for n in range(50)))
    assert outcomes.count("linked") == 1


async def test_pending_codes_are_bounded(app: Chatlink, clock: FakeClock) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    for _ in range(app.settings.link_codes_max_pending):
        await app.links.issue_for_account(alice.id)
    with pytest.raises(TooManyCodes, match="unused link codes"):
        await app.links.issue_for_account(alice.id)
    clock.advance(minutes=app.settings.link_code_ttl_minutes + 1)
    await app.links.issue_for_account(alice.id)


async def test_code_requests_are_rate_limited_per_identity(
    open_app: OpenApp, clock: FakeClock
) -> None:
    # Codes that expire in a minute: the requests, two minutes apart, all fall in one hour.
    async with open_app(link_code_ttl_minutes=1) as app:
        for _ in range(app.settings.link_code_requests_per_hour):
            await app.links.issue_for_identity("telegram", "1001", "A", "1001")
            clock.advance(minutes=app.settings.link_code_ttl_minutes + 1)  # keep pending low
        with pytest.raises(RateLimited, match="Too many link codes"):
            await app.links.issue_for_identity("telegram", "1001", "A", "1001")
        # another identity is not affected
        await app.links.issue_for_identity("telegram", "2002", "B", "2002")


async def test_codes_are_never_logged(app: Chatlink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alice = await app.accounts.register("alice", PASSWORD)
    issued = await app.links.issue_for_account(alice.id)
    await app.core.handle(dm(f"/link {issued.code}", "1001"))
    chat_code = (await app.core.handle(dm("/link", "2002", Platform.DISCORD)))[0].text
    await app.core.handle(dm("hello there", "1001"))
    # every record of ours at any level, and everybody's at INFO and above
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in {"bot", "storage", "adapters", "chatlink"}
        or record.levelno >= logging.INFO
    )
    assert issued.code not in logged
    assert chat_code.split()[-1] not in logged
    assert PASSWORD not in logged and "hello there" not in logged
