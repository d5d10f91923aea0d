"""Files on the web door: POST /api/chat as multipart, POST /api/uploads and the WebSocket,
the stored images served to their owner, and the size bound checked from the length."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import connect

from adapters.web import WebDoor
from bot.app import Chatlink
from bot.settings import Settings
from tests.support.media import CAMERA, encrypted_pdf, jpeg_with_exif, pdf
from tests.support.settings import PASSWORD, make_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, llm_vision=True, max_attachment_mb=1)


async def bearer(http: httpx.AsyncClient, username: str = "alice") -> dict[str, str]:
    await http.post("/api/register", json={"username": username, "password": PASSWORD})
    response = await http.post("/api/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def stored(app: Chatlink) -> tuple[int, int]:
    return await app.core.memory.store.count(), await app.core.memory.media.count()


async def test_multipart_chat_with_an_image(http: httpx.AsyncClient, app: Chatlink) -> None:
    auth = await bearer(http)
    files = [("files", ("cat.jpg", jpeg_with_exif(640, 480), "image/jpeg"))]
    response = await http.post("/api/chat", data={"message": "my cat"}, files=files, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "model" and "(I got an image, 640x480, JPEG.)" in body["reply"]
    history = (await http.get("/api/history", headers=auth)).json()["messages"]
    assert history[0]["content"] == "my cat" and history[1]["images"] == []
    [url] = history[0]["images"]
    picture = await http.get(url, headers=auth)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    decoded = Image.open(io.BytesIO(picture.content))
    assert decoded.size == (640, 480) and not decoded.getexif()
    assert CAMERA.encode() not in picture.content
    # Served to its owner only.
    other = await bearer(http, "bob")
    assert (await http.get(url, headers=other)).status_code == 404
    assert (await http.get(url)).status_code == 401


async def test_multipart_chat_with_several_files_and_json_still(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    auth = await bearer(http)
    files = [
        ("files", ("a.png", jpeg_with_exif(100, 100), "image/png")),
        ("files", ("notes.pdf", pdf("page one", "page two"), "application/pdf")),
    ]
    response = await http.post("/api/chat", files=files, headers=auth)
    assert response.status_code == 200, response.text
    assert "file notes.pdf, 2 pages:" in response.json()["reply"]
    assert "(I got an image, 100x100, JPEG.)" in response.json()["reply"]
    plain = await http.post("/api/chat", json={"message": "hi"}, headers=auth)
    assert plain.status_code == 200 and plain.json()["reply"].startswith("Echo: hi")
    bad = await http.post("/api/chat", json={"message": 5}, headers=auth)
    assert bad.status_code == 422


async def test_refused_files_answer_422_and_store_nothing(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    auth = await bearer(http)
    for name, data, says in [
        ("secret.pdf", encrypted_pdf(), "password-protected"),
        ("cat.png", b"not a picture at all", "not an image"),
    ]:
        response = await http.post("/api/chat", files=[("files", (name, data))], headers=auth)
        assert response.status_code == 422 and says in response.json()["detail"]
    assert await stored(app) == (0, 0)


async def test_oversize_is_refused_from_the_length(http: httpx.AsyncClient, app: Chatlink) -> None:
    auth = await bearer(http)
    big = b"\xff\xd8\xff" + b"\x00" * (1024 * 1024 + 70 * 1024)
    response = await http.post("/api/chat", files=[("files", ("big.jpg", big))], headers=auth)
    assert response.status_code == 413
    upload = await http.post("/api/uploads", files={"file": ("big.jpg", big)}, headers=auth)
    assert upload.status_code == 413
    # One file past the bound on its own, with the request within it (form overhead).
    edge = b"\xff\xd8\xff" + b"\x00" * (1024 * 1024 + 10)
    response = await http.post("/api/chat", files=[("files", ("edge.jpg", edge))], headers=auth)
    assert response.status_code == 413
    # JSON bodies keep MAX_REQUEST_BYTES.
    long = await http.post("/api/chat", json={"message": "x" * 70_000}, headers=auth)
    assert long.status_code == 413
    assert await stored(app) == (0, 0)


async def test_upload_then_websocket(http: httpx.AsyncClient, web: WebDoor, app: Chatlink) -> None:
    auth = await bearer(http)
    uploaded = await http.post(
        "/api/uploads",
        files={"file": ("p.jpg", jpeg_with_exif(300, 200), "image/jpeg")},
        headers=auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["kind"] == "image"
    upload_id = uploaded.json()["id"]
    async with connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=auth) as socket:
        await socket.send(json.dumps({"message": "look", "files": [upload_id]}))
        while (frame := json.loads(await socket.recv()))["type"] != "reply":
            pass
        assert frame["kind"] == "model" and "(I got an image, 300x200, JPEG.)" in frame["text"]
        # Used once: naming it again is refused, nothing stored.
        await socket.send(json.dumps({"message": "again", "files": [upload_id]}))
        again = json.loads(await socket.recv())
        assert again["kind"] == "rejected" and "upload it again" in again["text"]
        await socket.send(json.dumps({"message": "x", "files": "not a list"}))
        assert json.loads(await socket.recv())["type"] == "error"
    assert await stored(app) == (2, 1)


async def test_a_refused_message_keeps_its_upload_for_a_retry(
    http: httpx.AsyncClient, web: WebDoor, app: Chatlink
) -> None:
    auth = await bearer(http)
    uploaded = await http.post(
        "/api/uploads",
        files={"file": ("p.jpg", jpeg_with_exif(30, 20), "image/jpeg")},
        headers=auth,
    )
    upload_id = uploaded.json()["id"]
    async with connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=auth) as socket:
        # Refused in the core (too long), after the upload was read: nothing stored...
        await socket.send(json.dumps({"message": "x" * 9_000, "files": [upload_id]}))
        refused = json.loads(await socket.recv())
        assert refused["kind"] == "rejected", refused
        assert await stored(app) == (0, 0)
        # ... and the same upload goes with the message sent again.
        await socket.send(json.dumps({"message": "look", "files": [upload_id]}))
        while (frame := json.loads(await socket.recv()))["type"] != "reply":
            pass
        assert frame["kind"] == "model" and "(I got an image, 30x20, JPEG.)" in frame["text"]
    assert await app.core.files.store.uploads_of(1) == 0  # used up once answered
    assert await stored(app) == (2, 1)


async def test_uploads_are_bounded_per_account(http: httpx.AsyncClient) -> None:
    auth = await bearer(http)
    for _ in range(10):
        ok = await http.post("/api/uploads", files={"file": ("a.txt", b"hi")}, headers=auth)
        assert ok.status_code == 201
    refused = await http.post("/api/uploads", files={"file": ("a.txt", b"hi")}, headers=auth)
    assert refused.status_code == 429 and "Retry-After" in refused.headers


async def test_someone_elses_upload_cannot_be_used(http: httpx.AsyncClient, web: WebDoor) -> None:
    alice = await bearer(http)
    mine = await http.post("/api/uploads", files={"file": ("a.txt", b"hi")}, headers=alice)
    bob = await bearer(http, "bob")
    async with connect(f"ws://127.0.0.1:{web.port}/api/ws", additional_headers=bob) as socket:
        await socket.send(json.dumps({"message": "", "files": [mine.json()["id"]]}))
        assert json.loads(await socket.recv())["kind"] == "rejected"


async def test_a_cookie_upload_needs_the_csrf_token(http: httpx.AsyncClient) -> None:
    from tests.support.web import csrf_of, register_on_the_page

    await register_on_the_page(http)
    refused = await http.post("/api/uploads", files={"file": ("a.txt", b"hi")})
    assert refused.status_code == 403
    token = csrf_of(await http.get("/account"))
    ok = await http.post(
        "/api/uploads", files={"file": ("a.txt", b"hi")}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201, ok.text


async def test_a_voice_note_and_a_document_through_the_api(
    http: httpx.AsyncClient, app: Chatlink
) -> None:
    auth = await bearer(http)
    recording = ("rec.webm", b"\x1a\x45\xdf\xa3" + b"\x00" * 64, "audio/webm")
    voice = await http.post("/api/chat", files=[("files", recording)], headers=auth)
    assert voice.status_code == 422 and "no speech-to-text is set up" in voice.json()["detail"]
    notes = await http.post(
        "/api/chat", data={"message": "tidy this"}, files=[("files", ("todo.md", b"- milk"))],
        headers=auth,
    )  # fmt: skip
    assert notes.status_code == 200
    assert notes.json()["reply"].startswith("Echo: file todo.md:\n- milk\n\ntidy this")


async def test_forget_drops_uploads_waiting(http: httpx.AsyncClient, app: Chatlink) -> None:
    auth = await bearer(http)
    await http.post("/api/uploads", files={"file": ("a.txt", b"hi")}, headers=auth)
    assert await app.core.files.store.uploads_of(1) == 1
    assert (await http.delete("/api/history", headers=auth)).status_code == 200
    assert await app.core.files.store.uploads_of(1) == 0
