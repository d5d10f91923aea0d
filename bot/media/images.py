"""Images checked and re-encoded with Pillow before anything else sees them.

The real type comes from the bytes; more pixels than `Image.MAX_IMAGE_PIXELS` is refused
before decoding (a decompression bomb); an animation gives its first frame; EXIF and every
other piece of metadata stay behind, since only pixels are copied into the new file; the
longest side is at most `max_side`; JPEG out, or PNG for an image with transparency.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.errors import ImageRejected
from bot.media.sniff import sniff

if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported with the first image, not with this module: a bot that is sent no
# image starts without it (benchmarks/startup.py).

# Formats Pillow may open here: what people send and models read; nothing more is parsed.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
JPEG_QUALITY = 85
NOT_AN_IMAGE = "{name} is not an image, whatever its name says: I read JPEG, PNG, GIF and WebP."
DAMAGED = "I couldn't open {name}: the image is damaged or cut short."
TOO_MANY_PIXELS = (
    "{name} has too many pixels to open safely (the limit is {limit:,}). Send a smaller image."
)


@dataclass(frozen=True, slots=True)
class CleanImage:
    """An image as it goes on: re-encoded bytes without metadata, and their size."""

    mime: str  # image/jpeg or image/png
    data: bytes = field(repr=False)
    width: int
    height: int

    @property
    def format(self) -> str:
        """JPEG or PNG."""
        return "PNG" if self.mime == "image/png" else "JPEG"


def clean_image(data: bytes, name: str, max_side: int) -> CleanImage:
    """Check and re-encode one image; ImageRejected saying why it cannot be used."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    real = sniff(data)
    if real is None or not real.startswith("image/"):
        raise ImageRejected(NOT_AN_IMAGE.format(name=name))
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
            width, height = opened.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and width * height > limit:
                raise ImageRejected(TOO_MANY_PIXELS.format(name=name, limit=limit))
            opened.seek(0)  # an animation: its first frame
            if opened.format == "JPEG":
                opened.draft("RGB", (max_side, max_side))  # decode at a reduced scale
            opened.load()
            picture = ImageOps.exif_transpose(opened) or opened
            return _encode(picture, max_side)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise ImageRejected(TOO_MANY_PIXELS.format(name=name, limit=limit)) from None
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise ImageRejected(DAMAGED.format(name=name)) from None


def _encode(picture: Image.Image, max_side: int) -> CleanImage:
    from PIL import Image

    transparent = picture.mode in ("RGBA", "LA", "PA") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    pixels = picture.convert("RGBA" if transparent else "RGB")
    pixels.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # Only the pixels go on: a fresh image carries no EXIF, ICC profile, text chunks or XMP.
    bare = Image.new(pixels.mode, pixels.size)
    bare.paste(pixels)
    out = io.BytesIO()
    if transparent:
        bare.save(out, format="PNG", optimize=True)
        mime = "image/png"
    else:
        bare.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        mime = "image/jpeg"
    return CleanImage(mime, out.getvalue(), bare.width, bare.height)


async def read_image(data: bytes, name: str, max_side: int) -> CleanImage:
    """clean_image off the event loop (decoding and resizing take CPU)."""
    return await asyncio.to_thread(clean_image, data, name, max_side)
