"""Images in the history the model reads: the last HISTORY_MAX_IMAGES as images, older ones
(and every one, for a model that cannot see) as a one-line placeholder, so context stays
bounded however many were sent. Only the count per message is cached (history_cache); the
bytes are read from the database for the few shown."""

from __future__ import annotations

from collections.abc import Sequence

from bot.providers import Picture, Turn
from storage import MediaStore, StoredMessage

NOT_SHOWN = "(an image came with this message; it is no longer shown)"
NOT_SHOWN_MANY = "({count} images came with this message; they are no longer shown)"


async def with_pictures(
    turns: Sequence[Turn],
    messages: Sequence[StoredMessage],
    store: MediaStore,
    most: int,
    *,
    vision: bool,
) -> list[Turn]:
    """`turns` (made from `messages`, one each, in order) with their images: the newest
    `most` as pictures, the others as a placeholder line."""
    having = [m for m in messages if m.images]
    if not having:
        return list(turns)
    wanted: list[int] = []
    room = most if vision else 0
    for message in reversed(having):
        if room <= 0:
            break
        wanted.append(message.id)
        room -= message.images
    stored = await store.images_of(wanted) if wanted else []
    # The newest `most`: a message that straddles the line keeps its later images.
    stored = stored[max(0, len(stored) - most) :] if vision else []
    shown: dict[int, list[Picture]] = {}
    for image in stored:
        picture = Picture(image.mime, image.data, image.width, image.height)
        shown.setdefault(image.message_id, []).append(picture)
    out: list[Turn] = []
    for turn, message in zip(turns, messages, strict=True):
        if not message.images:
            out.append(turn)
            continue
        pictures = tuple(shown.get(message.id, ()))
        missing = message.images - len(pictures)
        content = turn.content
        if missing:
            note = NOT_SHOWN if missing == 1 else NOT_SHOWN_MANY.format(count=missing)
            content = f"{note}\n{content}" if content else note
        out.append(Turn(turn.role, content, pictures))
    return out
