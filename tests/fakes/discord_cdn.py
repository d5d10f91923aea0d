"""A Discord CDN stand-in: attachment files at /attachments/<channel>/<id>/<filename>, with the
signed query Discord adds (ex, is, hm), every request recorded (see served_files).

`attachment(...)` gives the payload a MESSAGE_CREATE carries for a file it serves: id,
filename, size (as stated), url and proxy_url, content_type, and for a voice message its
duration_secs and waveform (deliver it with the IS_VOICE_MESSAGE flag).
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.served_files import FileShelf

IS_VOICE_MESSAGE = 1 << 13
SIGNED = "ex=6a1b2c3d&is=6a19dabd&hm=0123456789abcdef"


@dataclass
class FakeCdn:
    """Serves attachment files once `base` (its URL) is set."""

    base: str = ""
    files: FileShelf = field(default_factory=FileShelf)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(800_000))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/attachments/{path:path}", self._file, methods=["GET"])])

    def attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        stated: int | None = None,
        duration_secs: float | None = None,
        hang: bool = False,
        padding: int = 0,
        channel_id: int = 1,
    ) -> dict[str, Any]:
        """Serve `data` and return the attachment object that points at it."""
        assert self.base, "serve the CDN and set its base URL first"
        attachment_id = next(self._ids)
        path = f"{channel_id}/{attachment_id}/{filename}"
        served = self.files.put(path, data, stated=stated, hang=hang, padding=padding)
        url = f"{self.base}/attachments/{path}?{SIGNED}"
        payload: dict[str, Any] = {
            "id": str(attachment_id), "filename": filename, "size": served.stated,
            "url": url, "proxy_url": url,
        }  # fmt: skip
        if content_type is not None:
            payload["content_type"] = content_type
        if duration_secs is not None:
            payload["duration_secs"] = duration_secs
            payload["waveform"] = base64.b64encode(bytes(range(0, 256, 4))).decode()
        return payload

    def fetched(self, attachment: dict[str, Any]) -> bool:
        """Whether the file of this attachment was requested."""
        return attachment["url"].split("/attachments/", 1)[1].split("?")[0] in self.files.fetched

    async def _file(self, request: Request) -> Response:
        if set(request.query_params) != {"ex", "is", "hm"}:
            return Response("Not Found", 404)  # an unsigned CDN URL is refused, as Discord does
        return await self.files.respond(request.path_params["path"], request)
