"""Chat command parsing, the same for every platform: `/name[@bot] [args]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMANDS = (
    "start",
    "help",
    "link",
    "unlink",
    "reset",
    "forget",
    "whoami",
    "model",
    "persona",
    "system",
    "retry",
    "undo",
    "stop",
    "usage",
    "tools",
)

# What each command does, in the platforms' command menus.
DESCRIPTIONS = {
    "start": "Start, or link with a code",
    "help": "What I can do",
    "link": "Link this chat to your account",
    "unlink": "Detach this chat from your account",
    "reset": "Forget this conversation",
    "forget": "Erase everything you said to me",
    "whoami": "Show your account and linked chats",
    "model": "List models, or switch: /model NAME",
    "persona": "List personas, or apply one: /persona NAME",
    "system": "Show or set this chat's system prompt",
    "retry": "Write the last reply again",
    "undo": "Remove the last exchange",
    "stop": "Stop the reply being written",
    "usage": "Your tokens today and your limits",
    "tools": "The tools the model may use for you here",
}
# `/start link` (the deep link a group offers) asks for a link code in the private chat.
START_LINK = "link"

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command; `target` is the bot named after `@`, if any."""

    name: str
    args: str
    target: str | None

    def is_for(self, bot_username: str | None) -> bool:
        """Whether this command is addressed to us (no `@name`, or our name)."""
        if self.target is None or bot_username is None:
            return True
        return self.target.lower() == bot_username.lstrip("@").lower()


def addresses_us(text: str, bot_username: str | None) -> bool:
    """Whether `text` is one of our commands (and not `/cmd@another_bot` or a path)."""
    command = parse_command(text)
    return command is not None and command.name in COMMANDS and command.is_for(bot_username)


def parse_command(text: str) -> Command | None:
    """The command in `text`, or None when `text` is not a command."""
    # Most messages are not commands: no strip and no match for them (three doors' and the
    # core's questions about one message each ask this).
    if text.lstrip()[:1] != "/":
        return None
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    name, target, args = match.groups()
    return Command(name.lower(), (args or "").strip(), target)


# In Markdown (every door renders it: bot.rendering), using each construct the doors draw, so
# /help also shows what formatting looks like here; `{web}` is the web page's address.
HELP = """\
## What I can do

I am a chat bot with **one memory** across Telegram, Discord and the [web page]({web}).

Just write to me. Replies are formatted: **bold**, *italic*, ~~struck~~, `code`, lists, tables.
Send `demo markdown` to see them all.

### Link this chat

1. Register on the web page, or log in.
2. Send `/link` here and open the address I answer, *or* send `/link CODE` (from your account).

### Commands

- `/unlink`: detach this chat from your account
- `/whoami`: your account and linked chats
- `/reset`: forget this conversation (only this chat's thread)
- `/forget`: erase everything you ever said to me
- `/retry`: write the last reply again; `/undo`: remove the last exchange
- `/stop`: stop the reply being written
- `/usage`: your tokens today, the limits, the model and persona
- `/tools`: the tools the model may use for you in this chat
- `/help`: this text

### Settings of this chat

| Command | Does |
|---|---|
| `/model` | list models; `/model NAME` switches |
| `/persona` | list personas; `/persona off` |
| `/system` | show the system prompt |

```text
/model NAME
/persona NAME
/system TEXT
/system off
```

> Passwords are typed only on the web page, never in a chat."""


def help_text(web_url: str) -> str:
    """What /help answers (Markdown), pointing at the web page at `web_url`."""
    return HELP.format(web=web_url)
