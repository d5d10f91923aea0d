"""Files outside a chat message: uploads waiting for the message that names them (the web
API's two-step send), and stored images shown back to their owner."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from bot.clock import Clock, utcnow
from bot.errors import InputRejected, RateLimited
from bot.messages import Attachment, AttachmentKind
from storage import MediaStore, StoredImage, Upload

UPLOAD_TTL = timedelta(hours=1)
UPLOADS_PER_ACCOUNT = 10
TOO_MANY = (
    "You have {most} uploads waiting for a message already: send a message with them, or "
    "wait for them to expire (after an hour)."
)
GONE = "That upload is gone (each is kept for an hour and goes with one message): upload it again."
MOST_PER_MESSAGE = 10
TOO_MANY_FILES = "At most {most} files go with one message."


class Files:
    """Uploads (bounded: UPLOAD_TTL, UPLOADS_PER_ACCOUNT) and stored images, per account."""

    def __init__(
        self,
        store: MediaStore,
        *,
        ttl: timedelta = UPLOAD_TTL,
        most: int = UPLOADS_PER_ACCOUNT,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.most = most
        self.clock = clock

    async def upload(self, account_id: int, attachment: Attachment) -> str:
        """Keep a file for a later message; its id. RateLimited when the account already
        holds `most` of them."""
        upload = Upload(
            secrets.token_urlsafe(16),
            account_id,
            attachment.kind.value,
            attachment.name[:255],
            attachment.claimed_type[:128],
            attachment.data,
            self.clock(),
        )
        kept = await self.store.add_upload(
            upload, expired_before=self.clock() - self.ttl, most=self.most
        )
        if not kept:
            raise RateLimited.custom(TOO_MANY.format(most=self.most), self.ttl.total_seconds())
        return upload.id

    async def take(
        self, account_id: int, ids: Sequence[str], *, keep: bool = False
    ) -> tuple[Attachment, ...]:
        """The account's uploads with these ids, as attachments (each used once, or kept for
        `drop` with `keep`); refused when one is unknown, someone else's or expired (and then
        none is used up)."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MOST_PER_MESSAGE:
            raise InputRejected(TOO_MANY_FILES.format(most=MOST_PER_MESSAGE))
        found = await self.store.take_uploads(
            account_id, wanted, expired_before=self.clock() - self.ttl, keep=keep
        )
        if len(found) != len(wanted):
            raise InputRejected(GONE)
        return tuple(
            Attachment(AttachmentKind(u.kind), u.name, u.claimed_type, u.data) for u in found
        )

    async def drop(self, account_id: int, ids: Sequence[str]) -> None:
        """Use up uploads taken with `keep` (their message was answered)."""
        await self.store.drop_uploads(account_id, list(dict.fromkeys(ids)))

    async def image(self, account_id: int, message_id: int, position: int) -> StoredImage | None:
        """A stored image of one of the account's messages (None: no such image, or not
        theirs)."""
        return await self.store.image_for(account_id, message_id, position)
