"""Documents through the core: text files and PDF text go into the user's turn as a labelled
block; what cannot be read gets a short answer, and nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import Chatlink
from bot.messages import ReplyKind
from tests.support.app import OpenApp
from tests.support.media import document, encrypted_pdf, jpeg_with_exif, pdf, sending
from tests.support.people import link_account_first


@pytest.fixture
async def reading(open_app: OpenApp) -> AsyncIterator[Chatlink]:
    async with open_app(max_document_chars=200) as app:
        await link_account_first(app, "alice")
        yield app


async def stored_text(app: Chatlink) -> list[str]:
    return [m.content for _, m in await app.core.memory.everything(1) if m.role == "user"]


async def test_a_pdf_becomes_a_labelled_block(reading: Chatlink) -> None:
    report = document(pdf("Revenue rose", "Costs fell", "Outlook good"), "report.pdf")
    [reply] = await reading.core.handle(sending(report, text="summarise this"))
    assert reply.kind is ReplyKind.MODEL
    expected = "file report.pdf, 3 pages:\nRevenue rose\nCosts fell\nOutlook good\n\nsummarise this"
    assert await stored_text(reading) == [expected]
    assert reply.text.startswith("Echo: file report.pdf, 3 pages:")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.md", b"# Title\n\n- one\n- two"),
        ("data.csv", b"a,b\n1,2\n"),
        ("conf.json", b'{"k": [1, 2]}'),
        ("main.py", "print('héllo')\n".encode()),
    ],
)
async def test_text_files_are_read(reading: Chatlink, name: str, data: bytes) -> None:
    await reading.core.handle(sending(document(data, name)))
    assert await stored_text(reading) == [f"file {name}:\n{data.decode()}"]


async def test_a_long_file_is_cut_with_a_notice(reading: Chatlink) -> None:
    await reading.core.handle(sending(document(b"word " * 100, "long.txt", "text/plain")))
    [text] = await stored_text(reading)
    body = text.split("\n")[1]
    assert len(body) == 200
    assert text.endswith("[cut here: the file goes on; only its first 200 characters are shown]")


@pytest.mark.parametrize(
    ("attachment", "says"),
    [
        (document(encrypted_pdf(), "secret.pdf", "application/pdf"), "password-protected"),
        (document(pdf("fine")[:120], "cut.pdf", "application/pdf"), "the PDF is damaged"),
        (document(b"%PDF-1.7\n" + b"\x00garbage" * 50, "junk.pdf"), "the PDF is damaged"),
        (document(b"plain words", "report.pdf"), "is not a PDF"),
        (document(jpeg_with_exif(), "notes.txt", "text/plain"), "is not a text file"),
        (document(b"\x00\x01\x02binary\xff\xfe", "data.csv"), "is not a text file"),
        (document(b"PK\x03\x04 zipped", "report.docx"), "I can't read report.docx"),
        (document(pdf(""), "scan.pdf"), "no text I can read"),
    ],
    ids=[
        "encrypted",
        "truncated",
        "broken",
        "text-named-pdf",
        "jpeg-named-txt",
        "binary-csv",
        "docx",
        "no-text",
    ],
)
async def test_unreadable_documents_are_refused_with_nothing_stored(
    reading: Chatlink, attachment: Any, says: str
) -> None:
    [reply] = await reading.core.handle(sending(attachment, text="read it"))
    assert reply.kind is ReplyKind.REJECTED and says in reply.text, reply.text
    assert await reading.core.memory.store.count() == 0


async def test_the_refusal_names_what_is_supported(reading: Chatlink) -> None:
    [reply] = await reading.core.handle(sending(document(b"x", "sheet.xlsx")))
    assert "txt, md, csv, json and source code" in reply.text and "PDF" in reply.text


async def test_one_bad_file_refuses_the_whole_message(reading: Chatlink) -> None:
    good, bad = document(b"fine", "a.txt"), document(encrypted_pdf(), "b.pdf")
    [reply] = await reading.core.handle(sending(good, bad))
    assert reply.kind is ReplyKind.REJECTED
    assert await reading.core.memory.store.count() == 0
