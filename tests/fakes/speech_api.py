"""A stand-in for an OpenAI-compatible `/audio/transcriptions` endpoint (Whisper, and the
local servers that speak its API): multipart upload in, `{"text": ...}` out.

It checks what the real one checks (a model, a file, a format it takes by the file name's
extension) and records every upload's bytes; it can be slow or fail on request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FORMATS = {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "opus", "wav", "webm"}


@dataclass(frozen=True)
class Upload:
    """One transcription request as it arrived."""

    model: str
    filename: str
    data: bytes
    authorization: str | None


@dataclass
class FakeSpeech:
    """The transcript to answer, how long to wait first, and a status to fail with."""

    text: str = "hello from a voice note"
    delay_s: float = 0.0
    status: int = 200
    uploads: list[Upload] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"])]
        )

    async def _transcribe(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return _error(400, "expected multipart/form-data")
        async with request.form() as form:  # closes the spooled upload when done
            file, model = form.get("file"), form.get("model")
            if not isinstance(file, UploadFile) or not isinstance(model, str) or not model:
                return _error(400, "file and model are required")
            data = await file.read()
            name = file.filename or ""
        self.uploads.append(Upload(model, name, data, request.headers.get("authorization")))
        if name.rsplit(".", 1)[-1].lower() not in FORMATS:
            return _error(400, f"Invalid file format. Supported formats: {sorted(FORMATS)}")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return _error(self.status, "the server is not well")
        return JSONResponse({"text": self.text})


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status)
