"""Request dependencies: the assembled core, and the account behind a token or a session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from adapters.web.security import ApiTokens, TokenError, new_csrf_token
from bot.accounts import Account, credential_version
from bot.app import Chatlink
from bot.errors import AccountDisabled

bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)

UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="Not authenticated: send a valid bearer token from POST /api/token.",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_chatlink(request: HTTPConnection) -> Chatlink:
    """The assembled core this app serves."""
    chatlink: Chatlink = request.app.state.chatlink
    return chatlink


def get_tokens(request: HTTPConnection) -> ApiTokens:
    """The API token issuer."""
    tokens: ApiTokens = request.app.state.tokens
    return tokens


# As dependencies, async: FastAPI runs a plain `def` dependency on a worker thread, a thread
# hop per request for what is an attribute lookup.
async def chatlink_dependency(request: HTTPConnection) -> Chatlink:
    return get_chatlink(request)


async def tokens_dependency(request: HTTPConnection) -> ApiTokens:
    return get_tokens(request)


async def account_from_token(chatlink: Chatlink, tokens: ApiTokens, token: str) -> Account | None:
    """The live account a token names (disabled or not), if the token is still good."""
    try:
        account_id, version = tokens.read(token)
    except TokenError:
        return None
    # Through the core's account cache: a password change or a disable made here is seen
    # at once, one made by another process within seconds (bot.accounts.cache).
    account = await chatlink.core.accounts.by_id(account_id)
    if account is None or credential_version(account) != version:
        return None
    return account


async def api_account(
    token: Annotated[str | None, Depends(bearer)],
    chatlink: Annotated[Chatlink, Depends(chatlink_dependency)],
    tokens: Annotated[ApiTokens, Depends(tokens_dependency)],
) -> Account:
    """The account of the bearer token; 401 without a good token, 403 for a disabled account."""
    account = await account_from_token(chatlink, tokens, token) if token else None
    if account is None:
        raise UNAUTHORIZED
    if account.disabled:
        # The token is good, the account may not use it: a refusal like any other (403).
        raise AccountDisabled()
    return account


async def reading_account(
    request: Request,
    token: Annotated[str | None, Depends(bearer)],
    chatlink: Annotated[Chatlink, Depends(chatlink_dependency)],
    tokens: Annotated[ApiTokens, Depends(tokens_dependency)],
) -> Account:
    """For API routes that only read (GET): the bearer token's account, or else the logged-in
    page's session cookie. Never for a route that changes anything: a cookie rides along on
    requests another site makes, and only the page's forms carry the CSRF token."""
    if token:
        return await api_account(token, chatlink, tokens)
    if request.method not in ("GET", "HEAD"):
        raise UNAUTHORIZED
    account = await session_account(request)
    if account is None:
        raise UNAUTHORIZED
    return account


async def session_account(request: HTTPConnection) -> Account | None:
    """The account logged in through the session cookie, while its server-side session
    stands (not logged out, not idle or old past SESSION_IDLE_MINUTES/SESSION_ABSOLUTE_DAYS)
    and its password is the one it logged in with."""
    token = request.session.get("sid")
    if not isinstance(token, str):
        return None
    chatlink = get_chatlink(request)
    account_id = await chatlink.sessions.account_of(token)
    account = None if account_id is None else await chatlink.accounts.by_id(account_id)
    if (
        account is None
        or account.disabled
        or request.session.get("ver") != credential_version(account)
    ):
        request.session.pop("sid", None)
        return None
    return account


async def viewer(request: HTTPConnection) -> Account | None:
    """Who is logged in, for an error page's menu; nobody if even that cannot be found out."""
    try:
        return await session_account(request)
    except Exception:  # an error page must render whatever else is failing
        return None


async def log_in(request: Request, account: Account) -> None:
    """Start a server-side session for the account and bind the cookie to it (a fresh
    CSRF token too: no session fixation); a session the cookie held before is ended."""
    sessions = get_chatlink(request).sessions
    if isinstance(old := request.session.get("sid"), str):
        await sessions.end(old)
    request.session.clear()
    request.session.update(
        sid=await sessions.start(account.id),
        ver=credential_version(account),
        csrf=new_csrf_token(),
    )


async def log_out(request: Request, *, everywhere: Account | None = None) -> None:
    """End this session (or, given the account, every session of it) and empty the cookie."""
    sessions = get_chatlink(request).sessions
    if everywhere is not None:
        await sessions.end_all(everywhere.id)
    elif isinstance(token := request.session.get("sid"), str):
        await sessions.end(token)
    request.session.clear()


ApiAccount = Annotated[Account, Depends(api_account)]
ReadingAccount = Annotated[Account, Depends(reading_account)]
ChatlinkDep = Annotated[Chatlink, Depends(chatlink_dependency)]
