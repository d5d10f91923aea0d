"""Files a person might send: photos with EXIF, bombs, PDFs with text, voice notes."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from bot.messages import Attachment, AttachmentKind, IncomingMessage
from tests.support.people import dm

CAMERA = "TestCam 3000"


def jpeg_with_exif(width: int = 800, height: int = 600) -> bytes:
    """A photo as a phone sends it: JPEG with EXIF (a camera model, GPS) and an ICC profile."""
    picture = Image.new("RGB", (width, height), (30, 120, 200))
    for x in range(0, width, 7):  # not one flat colour: something to encode
        picture.putpixel((x, (x * 3) % height), (250, 250, 0))
    exif = Image.Exif()
    exif[0x0110] = CAMERA  # Model
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPSInfo
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes(), icc_profile=b"\x00" * 128)
    return out.getvalue()


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def bomb() -> bytes:
    """A small PNG that claims more pixels than Pillow's MAX_IMAGE_PIXELS allows."""
    return png(12_000, 12_000, mode="1")


def pdf(*pages: str) -> bytes:
    """A PDF with one line of text on each page (built by hand: pypdf only reads text)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for text in pages:
        page_id = len(objects) + 1
        kids.append(f"{page_id} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_id + 1} 0 R "
            f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
            f">> >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref))  # fmt: skip
    return out.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf("secret plans"))))
    writer.encrypt("open sesame", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def ogg_voice() -> bytes:
    """Bytes that start as an Ogg Opus voice note does (the stand-in does not decode them)."""
    return b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead\x01\x01" + bytes(range(256)) * 4


def image(data: bytes, name: str = "photo.jpg", claimed: str = "image/jpeg") -> Attachment:
    return Attachment(AttachmentKind.IMAGE, name, claimed, data)


def document(data: bytes, name: str, claimed: str = "application/octet-stream") -> Attachment:
    return Attachment(AttachmentKind.DOCUMENT, name, claimed, data)


def voice(data: bytes | None = None, seconds: float | None = 3.0) -> Attachment:
    return Attachment(AttachmentKind.AUDIO, "voice.ogg", "audio/ogg", data or ogg_voice(), seconds)


def sending(
    *attachments: Attachment, text: str | None = None, user_id: str = "1001"
) -> IncomingMessage:
    """A private message carrying files (and a caption, if `text`)."""
    return replace(dm(text, user_id), attachments=attachments)
