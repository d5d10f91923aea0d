"""The HTTP API under /api, and /healthz."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from adapters.web.deps import ApiAccount, ChatlinkDep, ReadingAccount, tokens_dependency
from adapters.web.media_api import CHAT_BODY, read_chat
from adapters.web.schemas import (
    AccountOut,
    ChatOut,
    ChatPlatform,
    DeletedOut,
    HealthOut,
    HistoryOut,
    IdentityOut,
    LinkCodeOut,
    LinkedOut,
    MessageOut,
    Problem,
    RegisterIn,
    TokenOut,
)
from adapters.web.security import ApiTokens, client_address, csrf_matches
from bot.accounts import Account
from bot.app import Chatlink
from bot.conversation import PRIVATE_THREAD
from bot.messages import Attachment, IncomingMessage, Platform, ReplyKind
from bot.monitoring import CONTENT_TYPE, scrub
from bot.rendering import to_html

api = APIRouter(prefix="/api", tags=["api"])
health = APIRouter(tags=["health"])

PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 410, 413, 422, 429)
}


def web_message(
    account: Account, text: str, attachments: tuple[Attachment, ...] = ()
) -> IncomingMessage:
    """A message typed (or files sent) on the web by a logged-in account (its private thread)."""
    return IncomingMessage(
        platform=Platform.WEB,
        user_id=str(account.id),
        chat_id=f"web:{account.id}",
        is_private=True,
        text=text if text or not attachments else None,
        display_name=account.username,
        attachments=attachments,
    )


@api.post("/token", response_model=TokenOut, responses=PROBLEMS)
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    chatlink: ChatlinkDep,
    tokens: Annotated[ApiTokens, Depends(tokens_dependency)],
) -> TokenOut:
    """OAuth2 password flow: a bearer token for the account."""
    account = await chatlink.accounts.authenticate(
        form.username, form.password, client=client_address(request.scope)
    )
    return TokenOut(
        access_token=tokens.issue(account),
        expires_in=int(tokens.lifetime / timedelta(seconds=1)),
    )


@api.post("/register", status_code=201, response_model=AccountOut, responses=PROBLEMS)
async def register(request: Request, body: RegisterIn, chatlink: ChatlinkDep) -> AccountOut:
    """Create an account."""
    account = await chatlink.accounts.register(
        body.username, body.password, client=client_address(request.scope), invite=body.invite
    )
    return AccountOut(id=account.id, username=account.username, created_at=account.created_at)


@api.get("/me", response_model=AccountOut, responses=PROBLEMS)
async def me(account: ApiAccount, chatlink: ChatlinkDep) -> AccountOut:
    """The account and its linked chat identities."""
    identities = await chatlink.accounts.identities_of(account.id)
    return AccountOut(
        id=account.id,
        username=account.username,
        created_at=account.created_at,
        identities=[
            IdentityOut(platform=i.platform, display_name=i.display_name, linked_at=i.created_at)
            for i in identities
        ],
    )


@api.post(
    "/chat",
    response_model=ChatOut,
    responses=PROBLEMS | {503: {"model": Problem}},
    openapi_extra=CHAT_BODY,
)
async def chat(request: Request, account: ApiAccount, chatlink: ChatlinkDep) -> ChatOut:
    """Send a message on the account's private thread and get the reply: JSON
    `{"message": ...}`, or multipart/form-data with `message` and one or more `files`
    (images, voice notes, documents; MAX_ATTACHMENT_MB in all)."""
    text, attachments = await read_chat(request)
    return await answer_chat(account, chatlink, text, attachments)


async def answer_chat(
    account: Account, chatlink: Chatlink, text: str, attachments: tuple[Attachment, ...] = ()
) -> ChatOut:
    """The core's answer to a message of the account, as POST /api/chat gives it."""
    replies = await chatlink.core.handle(web_message(account, text, attachments), account=account)
    # The answer, after any notes that lead it (what was heard in a voice note).
    main = next((r for r in replies if r.kind is not ReplyKind.INFO), replies[0])
    notes = [r.text for r in replies if r is not main]
    reply = main
    if reply.refusal is not None:
        # Answered where every refusal is (adapters.web.errors): 429 with Retry-After, 403...
        raise reply.refusal
    if reply.kind is ReplyKind.ERROR:
        # The model or the database failed: worth a retry later, unlike a bug (500).
        raise HTTPException(status_code=503, detail=reply.text)
    return ChatOut(reply=reply.text, thread=PRIVATE_THREAD, kind=reply.kind.value, notes=notes)


@api.get("/history", response_model=HistoryOut, responses=PROBLEMS)
async def history(
    account: ReadingAccount,
    chatlink: ChatlinkDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HistoryOut:
    """The private thread, newest page first; page back with `before`. Model replies come
    rendered too (`html`). Takes a bearer token, or the chat page's session cookie."""
    page = await chatlink.core.memory.page(account.id, PRIVATE_THREAD, limit, before)
    return HistoryOut(
        thread=PRIVATE_THREAD,
        messages=[
            MessageOut(
                id=m.id,
                role=m.role,
                content=m.content,
                platform=m.platform,
                created_at=m.created_at,
                html=to_html(m.content) if m.role == "assistant" else None,
                images=[f"/api/messages/{m.id}/images/{n}" for n in range(m.images)],
            )
            for m in page
        ],
        next_before=page[0].id if len(page) == limit else None,
    )


@api.delete("/history", response_model=DeletedOut, responses=PROBLEMS)
async def delete_history(account: ApiAccount, chatlink: ChatlinkDep) -> DeletedOut:
    """Erase every message of the account, in every thread."""
    return DeletedOut(deleted=await chatlink.core.memory.forget(account.id))


@api.post("/link-codes", status_code=201, response_model=LinkCodeOut, responses=PROBLEMS)
async def link_code(account: ApiAccount, chatlink: ChatlinkDep) -> LinkCodeOut:
    """An account-first code: send `/link CODE` to the bot from the chat to link."""
    issued = await chatlink.links.issue_for_account(account.id)
    return LinkCodeOut(
        code=issued.code,
        expires_at=issued.expires_at,
        command=f"/link {issued.code}",
        telegram_deep_link=chatlink.links.telegram_deep_link(issued.code),
    )


@api.post("/links/{code}", response_model=LinkedOut, responses=PROBLEMS)
async def confirm_link(code: str, account: ApiAccount, chatlink: ChatlinkDep) -> LinkedOut:
    """Confirm a chat-first code (from `/link` in a chat) for this account."""
    done = await chatlink.links.complete_for_account(code, account)
    return LinkedOut(platform=done.identity.platform, display_name=done.identity.display_name)


@api.delete("/identities/{platform}", status_code=204, responses=PROBLEMS)
async def unlink(platform: ChatPlatform, account: ApiAccount, chatlink: ChatlinkDep) -> Response:
    """Unlink the account's chat identity on `platform`."""
    if not await chatlink.accounts.unlink_platform(account.id, platform.value):
        raise HTTPException(status_code=404, detail=f"No {platform.value} chat is linked.")
    return Response(status_code=204)


@health.get("/metrics", include_in_schema=False)
async def metrics(request: Request, chatlink: ChatlinkDep) -> Response:
    """Prometheus metrics: for METRICS_TOKEN as a bearer token, or from this machine when no
    reverse proxy is configured (behind one, every request comes from this machine)."""
    settings = chatlink.settings
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token is not None:
        allowed = csrf_matches(f"Bearer {token.get_secret_value()}", given)
    elif settings.forwarded_allow_ips:
        raise HTTPException(
            status_code=403,
            detail="Behind a proxy (FORWARDED_ALLOW_IPS), metrics need METRICS_TOKEN.",
        )
    else:
        allowed = client_address(request.scope) in ("127.0.0.1", "::1")
    if not allowed:
        raise HTTPException(status_code=403, detail="Metrics need METRICS_TOKEN.")
    return Response(chatlink.metrics.render(), media_type=CONTENT_TYPE)


@health.get(
    "/healthz",
    response_model=HealthOut,
    response_model_exclude_none=True,
    responses={503: {"model": HealthOut}},
)
async def healthz(chatlink: ChatlinkDep) -> HealthOut | JSONResponse:
    """Whether the database takes writes and answers (and Redis, when REDIS_URL is set), for
    load balancers; doors still connecting to their platform make it "degraded" (still 200:
    this replica serves the others)."""
    try:
        await chatlink.db.ping()
        failure = chatlink.db.write_failure
        database = "ok" if failure is None else f"failing: writes fail ({failure})"
    except Exception:
        database = "unreachable"
    redis = "not configured"
    if chatlink.limiter.shared:
        redis = "ok" if await chatlink.limiter.ping() else "unreachable"
    # A platform's error text could quote a URL holding the token: scrubbed like the logs.
    doors = {door: scrub(why) for door, why in chatlink.doors.degraded().items()}
    down = database != "ok" or redis == "unreachable"
    health = HealthOut(
        status="unavailable" if down else "degraded" if doors else "ok",
        database=database,
        redis=redis,
        doors=doors or None,
    )
    if health.status == "unavailable":
        return JSONResponse(health.model_dump(exclude_none=True), status_code=503)
    return health
