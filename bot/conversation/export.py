"""A person's own data, as one JSON-ready document (the "download my data" export)."""

from __future__ import annotations

import base64
from typing import Any

from bot.accounts import AccountService
from bot.clock import utcnow
from bot.conversation.memory import Memory
from storage import Account


async def export_account(
    account: Account, accounts: AccountService, memory: Memory
) -> dict[str, Any]:
    """Account, linked identities and every stored message with its images (base64, as
    stored: re-encoded, without metadata); never the password hash."""
    identities = await accounts.identities_of(account.id)
    messages = await memory.everything(account.id)
    images: dict[int, list[dict[str, Any]]] = {}
    for image in await memory.media.images_of_account(account.id):
        images.setdefault(image.message_id, []).append(
            {
                "type": image.mime,
                "width": image.width,
                "height": image.height,
                "data_base64": base64.b64encode(image.data).decode("ascii"),
            }
        )
    return {
        "exported_at": utcnow().isoformat() + "Z",
        "account": {
            "id": account.id,
            "username": account.username,
            "created_at": account.created_at.isoformat() + "Z",
            "disabled": account.disabled,
        },
        "identities": [
            {
                "platform": i.platform,
                "platform_user_id": i.platform_user_id,
                "display_name": i.display_name,
                "linked_at": i.created_at.isoformat() + "Z",
            }
            for i in identities
        ],
        "messages": [
            {
                "id": m.id,
                "thread": key,
                "role": m.role,
                "content": m.content,
                "platform": m.platform,
                "created_at": m.created_at.isoformat() + "Z",
                **({"images": images[m.id]} if m.id in images else {}),
            }
            for key, m in messages
        ],
    }
