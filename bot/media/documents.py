"""Documents as text for the model: text files decoded, PDF text extracted with pypdf."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

from bot.errors import DocumentRejected
from bot.media.sniff import sniff, suffix

log = logging.getLogger(__name__)

_TEXT_EXTENSIONS = (
    "txt md markdown rst csv tsv json jsonl yaml yml toml ini cfg conf log xml html htm css "
    "py pyi js mjs ts tsx jsx java kt c h cc cpp hpp cs go rs rb php swift sh bash zsh ps1 sql "
    "r lua pl scala dart vue svelte tex diff patch"
)
TEXT_SUFFIXES = frozenset(f".{extension}" for extension in _TEXT_EXTENSIONS.split())

SUPPORTED = (
    "I read text files (txt, md, csv, json and source code), PDF, images (JPEG, PNG, GIF, "
    "WebP) and voice notes."
)
UNSUPPORTED = "I can't read {name}. " + SUPPORTED
NOT_TEXT = "{name} is not a text file, whatever its name says. " + SUPPORTED
NOT_PDF = "{name} is not a PDF, whatever its name says."
ENCRYPTED = "{name} is password-protected: send it without the password, and I'll read it."
BROKEN = "I couldn't read {name}: the PDF is damaged."
NO_TEXT = "{name} has no text I can read (a scan, perhaps?). Send the text itself instead."
TRUNCATED = "[cut here: the file goes on; only its first {limit:,} characters are shown]"


@dataclass(frozen=True, slots=True)
class Document:
    """A document's text, at most the limit, with what the label says about it."""

    name: str
    text: str
    pages: int | None  # PDF pages; None for a text file
    total_chars: int  # read before the cut (more than `text` holds: it was cut)

    @property
    def truncated(self) -> bool:
        return self.total_chars > len(self.text)

    def block(self) -> str:
        """The labelled block the user's turn carries: "file report.pdf, 3 pages:" and the text."""
        pages = "" if self.pages is None else f", {self.pages} page{'s' * (self.pages != 1)}"
        name = " ".join(self.name.split()) or "file"  # one line, whatever the name held
        lines = [f"file {name}{pages}:", self.text]
        if self.truncated:
            lines.append(TRUNCATED.format(limit=len(self.text)))
        return "\n".join(lines)


def is_pdf(name: str, claimed_type: str, data: bytes) -> bool:
    """Whether the file says or shows it is a PDF."""
    return (
        suffix(name) == ".pdf"
        or claimed_type == "application/pdf"
        or sniff(data) == "application/pdf"
    )


def read_document_now(data: bytes, name: str, claimed_type: str, max_chars: int) -> Document:
    """The text of one document; DocumentRejected saying why it cannot be read."""
    if is_pdf(name, claimed_type, data):
        if sniff(data) != "application/pdf":
            raise DocumentRejected(NOT_PDF.format(name=name))
        return _pdf(data, name, max_chars)
    textual = suffix(name) in TEXT_SUFFIXES or claimed_type.startswith("text/")
    if not textual:
        raise DocumentRejected(UNSUPPORTED.format(name=name))
    text = _decode(data)
    if text is None:
        raise DocumentRejected(NOT_TEXT.format(name=name))
    return Document(name, text[:max_chars], None, len(text))


def _decode(data: bytes) -> str | None:
    if sniff(data) is not None:  # an image, an archive, audio: bytes of another kind
        return None
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
    for encoding in ("utf-16", "utf-8-sig") if utf16 else ("utf-8-sig",):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:  # binary that happens to decode
            return None
        return text
    return None


def _pdf(data: bytes, name: str, max_chars: int) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected(ENCRYPTED.format(name=name))
        pages = len(reader.pages)
        parts: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            parts.append(text)
            total += len(text) + 1
            if total > max_chars * 2:  # enough: the rest is cut anyway
                break
    except DocumentRejected:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError):
        log.debug("pdf not readable: %s", name)  # a file name may be personal: not at INFO
        raise DocumentRejected(BROKEN.format(name=name)) from None
    text = "\n".join(parts).strip()
    if not text:
        raise DocumentRejected(NO_TEXT.format(name=name))
    return Document(name, text[:max_chars], pages, len(text))


async def read_document(data: bytes, name: str, claimed_type: str, max_chars: int) -> Document:
    """read_document_now off the event loop (PDF parsing takes CPU)."""
    return await asyncio.to_thread(read_document_now, data, name, claimed_type, max_chars)
