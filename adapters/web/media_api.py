"""Files on the web door: POST /api/chat with files (multipart), POST /api/uploads for the
WebSocket's two-step send, and GET of a stored image by its owner.

A request carrying files may be up to MAX_ATTACHMENT_MB (checked from its length before it is
read, adapters.web.security.BodyLimit); every other request keeps MAX_REQUEST_BYTES. The page
authenticates with its session cookie (and, for an upload, its CSRF token in X-CSRF-Token);
API clients with a bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from adapters.web.deps import (
    UNAUTHORIZED,
    ChatlinkDep,
    account_from_token,
    bearer,
    get_chatlink,
    get_tokens,
    session_account,
)
from adapters.web.schemas import ChatIn, Problem, UploadOut
from adapters.web.security import csrf_matches
from bot.accounts import Account
from bot.errors import AccountDisabled
from bot.media import kind_for
from bot.messages import Attachment

media_api = APIRouter(prefix="/api", tags=["api"])

UPLOAD_PATHS = ("/api/chat", "/api/uploads")
FORM_OVERHEAD = 64 * 1024  # the form's text fields and part headers, beside the files
MOST_FILES = 10
CSRF_HEADER = "x-csrf-token"


def upload_max_bytes(max_attachment_mb: float) -> int:
    """The most a request carrying files may hold: MAX_ATTACHMENT_MB and the form around it."""
    return int(max_attachment_mb * 1024 * 1024) + FORM_OVERHEAD


async def page_or_api_account(
    request: Request, token: Annotated[str | None, Depends(bearer)]
) -> Account:
    """The bearer token's account, or the page's session (an upload also needs the CSRF
    token, since a cookie goes with a cross-site form post too)."""
    chatlink = get_chatlink(request)
    if token:
        account = await account_from_token(chatlink, get_tokens(request), token)
        if account is None:
            raise UNAUTHORIZED
        if account.disabled:
            raise AccountDisabled()
        return account
    account = await session_account(request)
    if account is None:
        raise UNAUTHORIZED
    if request.method != "GET" and not csrf_matches(
        request.session.get("csrf"), request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(403, "This upload needs the page's CSRF token (X-CSRF-Token).")
    return account


MediaAccount = Annotated[Account, Depends(page_or_api_account)]


async def attachment_of(file: UploadFile, max_bytes: int) -> Attachment:
    """An uploaded file as the core takes it; 413 past MAX_ATTACHMENT_MB."""
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, f"A file may be at most {max_bytes // (1024 * 1024)} MB.")
    name = (file.filename or "file").replace("\x00", "")[:255] or "file"
    claimed = file.content_type or "application/octet-stream"
    return Attachment(kind_for(name, claimed), name, claimed, data)


async def read_chat(request: Request) -> tuple[str, tuple[Attachment, ...]]:
    """The message (and files) of POST /api/chat: a JSON body as before, or multipart with
    `message` and one or more `files`."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        try:
            body = ChatIn.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_input=False)) from None
        return body.message, ()
    limit = int(get_chatlink(request).settings.max_attachment_mb * 1024 * 1024)
    async with request.form(max_files=MOST_FILES, max_fields=MOST_FILES + 5) as form:
        text = _text_field(form, "message")
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files and not text:
            raise HTTPException(422, "Send `message`, `files`, or both.")
        attachments = tuple([await attachment_of(f, limit) for f in files])
    return text, attachments


def _text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 100_000:
        raise HTTPException(422, f"`{name}` must be text of at most 100,000 characters.")
    return value


CHAT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ChatIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "maxLength": 100_000},
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "maxItems": MOST_FILES,
                        },
                    },
                }
            },
        },
    }
}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 413, 422, 429)
}


@media_api.post(
    "/uploads", status_code=201, response_model=UploadOut, responses=PROBLEMS,
    openapi_extra=UPLOAD_BODY,
)  # fmt: skip
async def upload(request: Request, account: MediaAccount, chatlink: ChatlinkDep) -> UploadOut:
    """Keep one file (multipart `file`) for a message sent later over the WebSocket
    (`{"message": ..., "files": [id]}`); kept an hour, ten at most per account."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise HTTPException(422, "Send the file as multipart/form-data, in the field `file`.")
    limit = int(chatlink.settings.max_attachment_mb * 1024 * 1024)
    async with request.form(max_files=1, max_fields=5) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise HTTPException(422, "Send the file in the field `file`.")
        attachment = await attachment_of(file, limit)
    upload_id = await chatlink.core.files.upload(account.id, attachment)
    return UploadOut(id=upload_id, kind=attachment.kind.value, name=attachment.name)


@media_api.get(
    "/messages/{message_id}/images/{position}",
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}},
        401: {"model": Problem},
        404: {"model": Problem},
    },
    response_class=Response,
)
async def image(
    account: MediaAccount,
    chatlink: ChatlinkDep,
    message_id: Annotated[int, Path(ge=1, le=2**62)],
    position: Annotated[int, Path(ge=0, le=100)],
) -> Response:
    """A stored image of one of the account's messages (re-encoded: no metadata)."""
    found = await chatlink.core.files.image(account.id, message_id, position)
    if found is None:
        raise HTTPException(404, "No such image.")
    return Response(
        found.data, media_type=found.mime, headers={"cache-control": "private, max-age=86400"}
    )
