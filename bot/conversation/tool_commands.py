"""/tools: the tools this person may use in this chat, as the model would be offered them."""

from __future__ import annotations

from bot.conversation.controls import ThreadControls
from bot.conversation.memory import thread_key
from bot.errors import AccountDisabled, NotLinked
from bot.messages import IncomingMessage, Reply
from bot.tools import ToolRegistry
from storage import Account

NO_SERVERS = "No tools are set up here (the operator sets MCP_SERVERS_FILE)."
NONE_HERE = "There are no tools for you in this chat."
GROUPS_NOTE = " Tools are offered in private chats, unless the operator allows a server in groups."
DESCRIPTION_CHARS = 100


class ToolCommands:
    """The /tools handler."""

    def __init__(self, controls: ThreadControls, tools: ToolRegistry | None) -> None:
        self.controls = controls
        self.tools = tools

    async def list(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """List the tools of the servers that answer, for this person, here."""
        if account is None:
            raise NotLinked()
        if account.disabled:
            raise AccountDisabled()
        # Shown privately, like /usage: an admin's list need not reach the whole group.
        if self.tools is None or not self.tools.configured:
            return [Reply(NO_SERVERS, private=True)]
        offered = await self.tools.offered(is_admin=account.is_admin, private=message.is_private)
        if not offered:
            return [Reply(NONE_HERE + ("" if message.is_private else GROUPS_NOTE), private=True)]
        lines = [
            f"• {t.spec.title}: {_short(t.spec.description)}" if t.spec.description
            else f"• {t.spec.title}"
            for t in offered
        ]  # fmt: skip
        model = (await self.controls.current(account, thread_key(message))).model
        note = (
            ""
            if model.tools
            else f"\n\nThe model of this chat, {model.name}, does not call tools: "
            "/model lists the others."
        )
        return [Reply("Tools you may use here:\n" + "\n".join(lines) + note, private=True)]


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= DESCRIPTION_CHARS else line[: DESCRIPTION_CHARS - 1] + "…"
