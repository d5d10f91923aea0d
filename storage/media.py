"""Images stored with messages, and web uploads waiting for the message that names them.

Images live in the database, in `media`, beside the message row they belong to: deleted with
it in the same statement (ON DELETE CASCADE: /forget, /reset, /undo, retention, account
deletion), copied by `chatlink backup`, and shared by every replica with no shared folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from storage.database import Database
from storage.records import StoredImage, Upload
from storage.tables import media, messages, threads, uploads


def _image(row: Any) -> StoredImage:
    return StoredImage(row.message_id, row.position, row.mime, row.width, row.height, row.data)


def _upload(row: Any) -> Upload:
    return Upload(
        row.id, row.account_id, row.kind, row.name, row.claimed_type, row.data, row.created_at
    )


class MediaStore:
    """Queries on `media` and `uploads`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def images_of(self, message_ids: Sequence[int]) -> list[StoredImage]:
        """The images of these messages, by message and position."""
        if not message_ids:
            return []
        query = (
            select(media)
            .where(media.c.message_id.in_(list(message_ids)))
            .order_by(media.c.message_id, media.c.position)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_image(r) for r in rows]

    async def image_for(
        self, account_id: int, message_id: int, position: int
    ) -> StoredImage | None:
        """One image of a message, if that message is the account's (None otherwise)."""
        query = (
            select(media)
            .join(messages, messages.c.id == media.c.message_id)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(
                threads.c.account_id == account_id,
                media.c.message_id == message_id,
                media.c.position == position,
            )
        )
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _image(row)

    async def images_of_account(self, account_id: int) -> list[StoredImage]:
        """Every image of an account's messages (for the data export)."""
        query = (
            select(media)
            .join(messages, messages.c.id == media.c.message_id)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(threads.c.account_id == account_id)
            .order_by(media.c.message_id, media.c.position)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_image(r) for r in rows]

    async def count(self) -> int:
        """Images stored, in all."""
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(media)) or 0)

    async def add_upload(self, upload: Upload, *, expired_before: datetime, most: int) -> bool:
        """Keep an upload unless its account already has `most` unexpired ones; expired
        uploads (of anyone) are deleted first. Whether it was kept."""
        async with self.db.write() as conn:
            await conn.execute(delete(uploads).where(uploads.c.created_at < expired_before))
            held = await conn.scalar(
                select(func.count())
                .select_from(uploads)
                .where(uploads.c.account_id == upload.account_id)
            )
            if int(held or 0) >= most:
                return False
            await conn.execute(
                insert(uploads).values(
                    id=upload.id,
                    account_id=upload.account_id,
                    kind=upload.kind,
                    name=upload.name,
                    claimed_type=upload.claimed_type,
                    data=upload.data,
                    created_at=upload.created_at,
                )
            )
        return True

    async def take_uploads(
        self, account_id: int, ids: Sequence[str], *, expired_before: datetime, keep: bool = False
    ) -> list[Upload]:
        """The account's unexpired uploads with these ids, in the order of `ids`, removed as
        they are taken (an upload goes with one message) unless `keep`. All or nothing: when
        one is not found, none is removed, and those found are returned for the caller to
        tell."""
        query = select(uploads).where(
            uploads.c.account_id == account_id,
            uploads.c.id.in_(list(ids)),
            uploads.c.created_at >= expired_before,
        )
        async with self.db.write() as conn:
            found = {row.id: _upload(row) for row in (await conn.execute(query)).all()}
            if found and len(found) == len(set(ids)) and not keep:
                await conn.execute(delete(uploads).where(uploads.c.id.in_(list(found))))
        return [found[i] for i in ids if i in found]

    async def drop_uploads_of(self, account_id: int) -> None:
        """Remove every upload of an account (its messages are being erased)."""
        async with self.db.write() as conn:
            await conn.execute(delete(uploads).where(uploads.c.account_id == account_id))

    async def drop_uploads(self, account_id: int, ids: Sequence[str]) -> None:
        """Remove the account's uploads with these ids (their message was taken)."""
        async with self.db.write() as conn:
            await conn.execute(
                delete(uploads).where(
                    uploads.c.account_id == account_id, uploads.c.id.in_(list(ids))
                )
            )

    async def uploads_of(self, account_id: int) -> int:
        """How many uploads an account holds (expired ones included until swept)."""
        query = select(func.count()).select_from(uploads).where(uploads.c.account_id == account_id)
        async with self.db.read() as conn:
            return int(await conn.scalar(query) or 0)
