"""One error channel: a refusal travels as its error from the service to the door, each door
answers it in one place, and storage errors become domain errors through one helper."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from adapters.web import WebDoor
from adapters.web.api import web_message
from adapters.web.errors import STATUS, headers_of
from bot.accounts import REGISTRATION_ERRORS, ExceptionMapping, map_exceptions
from bot.app import Chatlink, open_chatlink
from bot.delivery import APOLOGY
from bot.errors import (
    AccountDisabled,
    AlreadyLinked,
    ChatlinkError,
    CodeExpired,
    CodeUsed,
    InputRejected,
    InviteInvalid,
    PlatformTaken,
    RateLimited,
    TooManyCodes,
    UsernameUnavailable,
)
from bot.linking.lookup import link_errors
from bot.messages import Reply, ReplyKind
from storage import (
    CodeNotAvailable,
    IdentityTaken,
    InviteNotAvailable,
    LinkCode,
    StorageError,
    UsernameTaken,
)
from storage import PlatformTaken as PlatformSlotTaken
from tests.support.settings import PASSWORD, FakeClock, make_settings
from tests.test_web_api import bearer, register

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")

DISABLED = AccountDisabled.text


@pytest.fixture
async def limited(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Chatlink, WebDoor]]:
    """The web door of an app that answers one chat message per minute and account."""
    settings = make_settings(tmp_path, rate_limit_per_minute=1)
    async with open_chatlink(settings, clock=clock) as app:
        door = WebDoor(app)
        await door.start()
        try:
            yield app, door
        finally:
            await door.stop()


async def test_chat_over_the_rate_limit_is_429_with_retry_after(
    limited: tuple[Chatlink, WebDoor],
) -> None:
    _, door = limited
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{door.port}", trust_env=False, timeout=30
    ) as http:
        await register(http)
        auth = await bearer(http)
        first = await http.post("/api/chat", json={"message": "hello"}, headers=auth)
        assert first.status_code == 200, first.text
        second = await http.post("/api/chat", json={"message": "again"}, headers=auth)
        assert second.status_code == 429, second.text
        assert "Too many messages" in second.json()["detail"]
        assert 1 <= int(second.headers["retry-after"]) <= 60
        # The WebSocket says the same, as a refused reply.
        async with connect(f"ws://127.0.0.1:{door.port}/api/ws", additional_headers=auth) as socket:
            await socket.send(json.dumps({"message": "and again"}))
            frame = json.loads(await socket.recv())
        assert frame == {
            "type": "reply",
            "text": second.json()["detail"],
            "kind": "rejected",
            "last": True,
        }
        history = (await http.get("/api/history", headers=auth)).json()["messages"]
    assert [m["content"] for m in history][::2] == ["hello"]  # nothing refused was stored


async def test_a_disabled_account_is_403_and_the_websocket_says_so(
    http: httpx.AsyncClient, web: WebDoor, app: Chatlink
) -> None:
    await register(http)
    auth = await bearer(http)
    url = f"ws://127.0.0.1:{web.port}/api/ws"
    async with connect(url, additional_headers=auth) as socket:
        await app.admin.set_disabled("test", "alice", True)
        chat = await http.post("/api/chat", json={"message": "hello"}, headers=auth)
        assert chat.status_code == 403 and chat.json() == {"detail": DISABLED}
        assert (await http.get("/api/me", headers=auth)).status_code == 403
        await socket.send(json.dumps({"message": "hello"}))
        frame = json.loads(await socket.recv())
        assert frame == {"type": "reply", "text": DISABLED, "kind": "rejected", "last": True}
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # Enabled again, the same token works: it was refused, not revoked.
    await app.admin.set_disabled("test", "alice", False)
    assert (await http.post("/api/chat", json={"message": "hi"}, headers=auth)).is_success


async def test_the_core_hands_the_refusal_itself_to_the_door(app: Chatlink) -> None:
    alice = await app.accounts.register("alice", PASSWORD)
    await app.accounts.set_disabled("alice", True)
    disabled = await app.accounts.by_id(alice.id)
    assert disabled is not None
    [reply] = await app.core.handle(web_message(disabled, "hello"), account=disabled)
    assert reply.kind is ReplyKind.REJECTED and isinstance(reply.refusal, AccountDisabled)
    assert reply.text == DISABLED
    [empty] = await app.core.handle(web_message(disabled, "  "), account=disabled)
    assert isinstance(empty.refusal, InputRejected) and empty.text == "Send me some text."


def test_a_refused_reply_always_carries_its_error() -> None:
    limited = Reply.refused(RateLimited("messages", 30), private=True)
    assert limited.kind is ReplyKind.REJECTED and limited.private
    assert isinstance(limited.refusal, RateLimited) and limited.refusal.retry_after_s == 30
    with pytest.raises(ValueError, match="refusal"):
        Reply("no reason given", kind=ReplyKind.REJECTED)
    with pytest.raises(ValueError, match="refusal"):
        Reply("a model reply", kind=ReplyKind.MODEL, refusal=InputRejected())


async def test_a_bug_in_a_route_is_500_not_503(
    http: httpx.AsyncClient, app: Chatlink, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(http)
    auth = await bearer(http)

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.core.commands, "run", broken)
    response = await http.post("/api/chat", json={"message": "/help"}, headers=auth)
    assert response.status_code == 500 and response.json() == {"detail": APOLOGY}
    assert "retry-after" not in response.headers


def _mapped(mapping: ExceptionMapping, error: Exception) -> BaseException:
    """What comes out of `map_exceptions(mapping)` when `error` is raised inside."""
    with pytest.raises(Exception) as raised, map_exceptions(mapping):
        raise error
    return raised.value


NOW = datetime(2026, 11, 26, 12, 0, 0)


def _code(expires_at: datetime) -> LinkCode:
    return LinkCode("n", "account-first", 7, None, None, None, None, NOW, expires_at, None)


def test_registration_errors_map_each_case_to_its_domain_error() -> None:
    taken = UsernameTaken("alice")
    mapped = _mapped(REGISTRATION_ERRORS, taken)
    assert isinstance(mapped, UsernameUnavailable) and mapped.__cause__ is taken
    assert isinstance(_mapped(REGISTRATION_ERRORS, InviteNotAvailable()), InviteInvalid)
    # An invite that cannot be used is its own storage error, never a code's.
    assert not isinstance(InviteNotAvailable(), CodeNotAvailable)
    assert isinstance(_mapped(REGISTRATION_ERRORS, CodeNotAvailable("n")), CodeNotAvailable)


def test_link_errors_map_each_case_to_its_domain_error() -> None:
    usable = _code(NOW + timedelta(minutes=5))
    errors = link_errors(usable, NOW, 7, "telegram")
    assert isinstance(_mapped(errors, CodeNotAvailable("n")), CodeUsed)  # someone was first
    expired = link_errors(_code(NOW), NOW, 7, "telegram")
    assert isinstance(_mapped(expired, CodeNotAvailable("n")), CodeExpired)
    mine = _mapped(errors, IdentityTaken(7))
    assert isinstance(mine, AlreadyLinked) and "already linked to that account" in str(mine)
    theirs = _mapped(errors, IdentityTaken(8))
    assert isinstance(theirs, AlreadyLinked) and "another account" in str(theirs)
    slot = _mapped(errors, PlatformSlotTaken("telegram"))
    assert isinstance(slot, PlatformTaken) and "a telegram chat" in str(slot)
    # Not a storage error, or one the mapping does not name: passed on unchanged.
    assert isinstance(_mapped(errors, UsernameTaken("x")), UsernameTaken)
    assert isinstance(_mapped(errors, KeyError("x")), KeyError)


def test_the_most_specific_storage_error_wins() -> None:
    class Specific(CodeNotAvailable):
        pass

    mapping: ExceptionMapping = {
        StorageError: lambda _: ChatlinkError("general"),
        CodeNotAvailable: lambda _: CodeUsed(),
    }
    assert isinstance(_mapped(mapping, Specific("n")), CodeUsed)
    assert str(_mapped(mapping, UsernameTaken("x"))) == "general"


@pytest.fixture
async def invite_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Chatlink]:
    async with open_chatlink(make_settings(tmp_path, registration="invite"), clock=clock) as app:
        yield app


async def test_a_used_up_invite_in_a_chat_first_registration_leaves_the_code(
    invite_app: Chatlink,
) -> None:
    app = invite_app
    invite, _ = await app.admin.create_invite("cli", 1, timedelta(days=1))
    await app.accounts.register("alice", PASSWORD, invite=invite)
    code = (await app.links.issue_for_identity("telegram", "1001", "Bo", "1001")).code
    # Storage tells the invite from the code: the code was fine, so it is still usable.
    with pytest.raises(InviteInvalid):
        await app.links.complete_with_registration(code, "bob", PASSWORD, invite=invite)
    fresh, _ = await app.admin.create_invite("cli", 1, timedelta(days=1))
    done = await app.links.complete_with_registration(code, "bob", PASSWORD, invite=fresh)
    assert done.account.username == "bob"


async def test_too_many_pending_codes_is_429_with_retry_after(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    await register(http)
    auth = await bearer(http)
    for _ in range(app.settings.link_codes_max_pending):
        assert (await http.post("/api/link-codes", headers=auth)).status_code == 201
    refused = await http.post("/api/link-codes", headers=auth)
    assert refused.status_code == 429 and "unused link codes" in refused.json()["detail"]
    ttl_s = app.settings.link_code_ttl_minutes * 60
    assert ttl_s - 60 <= int(refused.headers["retry-after"]) <= ttl_s


def test_every_429_says_when_to_retry() -> None:
    limits = [kind for kind, status in STATUS if status == 429]
    assert limits and all(kind in (RateLimited, TooManyCodes) for kind in limits)
    assert headers_of(RateLimited("messages", 12.4)) == {"Retry-After": "12"}
    assert headers_of(TooManyCodes("wait", retry_after_s=90)) == {"Retry-After": "90"}
    assert headers_of(InputRejected()) == {}
