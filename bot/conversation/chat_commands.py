"""The chat commands: /start /help /link /unlink /reset /forget /whoami, the controls, /tools."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.conversation.commands import START_LINK, Command, help_text
from bot.conversation.controls import ThreadControls
from bot.conversation.memory import Memory, thread_key
from bot.conversation.replying import Replier
from bot.conversation.thread_commands import ThreadCommands
from bot.conversation.tool_commands import ToolCommands
from bot.errors import AccountDisabled, NotLinked
from bot.limits import UsageLimits
from bot.linking import LinkService
from bot.messages import IncomingMessage, Platform, Reply
from storage import Account, AccountStore

log = logging.getLogger(__name__)

ON_THE_WEB = (
    "On the web page, linked chats are managed on your account page: "
    "make a code there, or unlink a chat with one click."
)
LINK_IN_GROUP = "To link your account, message me privately and send /link there."
CODE_IN_GROUP = (
    "Link codes only work in a private chat. That code is void now, because others could "
    "see it: get a new one and send it to me privately."
)

Handler = Callable[[IncomingMessage, str, Account | None], Awaitable[list[Reply]]]


class ChatCommands:
    """Runs one parsed command for a sender (linked or not)."""

    def __init__(
        self,
        account_store: AccountStore,
        links: LinkService,
        memory: Memory,
        usage: UsageLimits,
        replier: Replier,
        *,
        system_prompt_max_chars: int = 4000,
    ) -> None:
        self.account_store = account_store
        self.links = links
        self.memory = memory
        self.usage = usage
        self.controls = ThreadControls(
            memory, replier, usage, system_prompt_max_chars=system_prompt_max_chars
        )
        thread = ThreadCommands(self.controls)
        self._handlers: dict[str, Handler] = {
            "start": self.start,
            "help": self.help,
            "link": self.link,
            "unlink": self.unlink,
            "reset": self.reset,
            "forget": self.forget,
            "whoami": self.whoami,
            "model": thread.model,
            "persona": thread.persona,
            "system": thread.system,
            "usage": thread.usage,
            "stop": thread.stop,
            "tools": ToolCommands(self.controls, replier.tools).list,
            # Answered in the thread's turn by the core; here only when not linked.
            "retry": self.needs_account,
            "undo": self.needs_account,
        }

    async def run(
        self, message: IncomingMessage, command: Command, account: Account | None
    ) -> list[Reply]:
        """Dispatch; unknown commands get a pointer to /help."""
        handler = self._handlers.get(command.name)
        if handler is None:
            return [Reply(f"Unknown command /{command.name}. Send /help for the list.")]
        return await handler(message, command.args, account)

    async def start(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """`/start` greets; `/start CODE` (a Telegram deep link) links like `/link CODE`."""
        if args == START_LINK:
            return await self.link(message, "", account)
        if args:
            return await self.link(message, args, account)
        help = self._help()
        if account is None:
            return [Reply(f"Welcome! {_not_linked_hint(message)}\n\n{help}", markdown=True)]
        greeting = f"Welcome back, {account.username}! Just write to me."
        return [Reply(f"{greeting}\n\n{help}", private=True, markdown=True)]

    async def needs_account(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """What /retry and /undo answer without an active account."""
        _active(account)
        return []

    async def help(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """The commands, in Markdown."""
        return [Reply(self._help(), markdown=True)]

    def _help(self) -> str:
        return help_text(self.links.urls.public_url)

    async def link(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """`/link` asks for a chat-first code; `/link CODE` redeems an account-first one."""
        if message.platform is Platform.WEB:
            return [Reply(ON_THE_WEB, private=True)]
        code = args.split()[0] if args else ""
        if not message.is_private:
            if code:
                await self.links.void_in_public(code)
                return [Reply(CODE_IN_GROUP, open_private=True)]
            return [Reply(LINK_IN_GROUP, open_private=True)]
        if code:
            linked = await self.links.redeem_in_chat(
                code, message.platform.value, message.user_id, message.display_name
            )
            return [
                Reply(
                    f"Linked! This chat now belongs to account {linked.username}, and I will "
                    "remember our conversation across your linked chats. If that is not your "
                    "account, send /unlink now.",
                    private=True,
                )
            ]
        if account is not None:
            return [
                Reply(
                    f"This chat is already linked to account {account.username}. "
                    "Send /unlink first to link it to another account.",
                    private=True,
                )
            ]
        issued = await self.links.issue_for_identity(
            message.platform.value, message.user_id, message.display_name, message.chat_id
        )
        minutes = max(1, round((issued.expires_at - self.links.clock()).total_seconds() / 60))
        return [
            Reply(
                f"To link this chat, open {issued.web_url} and log in or register there "
                f"within {minutes} minutes.\n\nYour code: {issued.code}",
                private=True,
            )
        ]

    async def unlink(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """Detach this identity from its account (the account and its memory stay)."""
        if message.platform is Platform.WEB:
            return [Reply(ON_THE_WEB, private=True)]
        if account is None:
            return [Reply("This chat is not linked to an account.", private=True)]
        await self.account_store.unlink(message.platform.value, message.user_id)
        log.info("identity unlinked: account_id=%s platform=%s", account.id, message.platform.value)
        return [
            Reply(
                f"Unlinked from account {account.username}. The account and its memory stay; "
                "send /link to link this chat again.",
                private=True,
            )
        ]

    async def reset(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """Empty the thread this chat belongs to, and only that one."""
        account = _active(account)
        removed = await self.memory.reset(account.id, thread_key(message))
        where = "our private conversation" if message.is_private else "this group conversation"
        return [
            Reply(f"Done: I forgot {where} ({removed} messages). Your other chats are untouched.")
        ]

    async def forget(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """Erase every message of the account, in every thread."""
        account = _active(account)
        removed = await self.memory.forget(account.id)
        log.info("account history erased: account_id=%s", account.id)
        return [
            Reply(
                f"Erased everything you said to me and my replies, in every chat ({removed} "
                "messages). Your account and linked chats stay.",
                private=True,
            )
        ]

    async def whoami(
        self, message: IncomingMessage, args: str, account: Account | None
    ) -> list[Reply]:
        """The account, its linked identities and how much is stored."""
        if account is None:
            return [Reply(_not_linked_hint(message), private=True)]
        identities = await self.account_store.identities_of(account.id)
        linked = ", ".join(
            f"{i.platform} ({i.display_name})" if i.display_name else i.platform for i in identities
        )
        stored = await self.memory.count(account.id)
        try:
            today = await self.usage.today(account.id)
            used = f"{today.tokens:,}" + (f" of {today.budget:,}" if today.budget else "")
        except Exception:  # the limit storage (Redis) is down: the rest still answers
            used = "unknown right now"
        state = " (disabled)" if account.disabled else ""
        return [
            Reply(
                f"You are {account.username}{state}.\nLinked chats: {linked or 'none'}.\n"
                f"Messages stored: {stored}.\nModel tokens today: {used}.",
                private=True,
            )
        ]


def _active(account: Account | None) -> Account:
    if account is None:
        raise NotLinked()
    if account.disabled:
        raise AccountDisabled()
    return account


def _not_linked_hint(message: IncomingMessage) -> str:
    if message.is_private:
        return "This chat is not linked to an account yet: send /link to link it."
    return "This chat is not linked to an account yet: message me privately and send /link."
