"""Errors the core raises, each carrying the short text a person is shown.

ChatlinkError                 base: `str(error)` is safe to show a person
 ├── ConfigError              a setting is missing or wrong (start-up)
 ├── InputRejected            empty, too long, not text, or a malformed field
 ├── LoginFailed              wrong username or password (never says which)
 ├── RateLimited              too many attempts; says when to try again
 ├── Busy                     too many password checks queued; says when to try again
 ├── AccountDisabled          the account was disabled by an operator
 ├── UsernameUnavailable      registering a name that exists
 ├── RegistrationClosed       REGISTRATION=closed: only the operator adds accounts
 ├── InviteInvalid            REGISTRATION=invite: no invite, or a used-up, expired one
 ├── NotLinked                the chat identity has no account
 ├── LinkError                a link code cannot be used
      ├── CodeInvalid         not a code of ours, or tampered with
      ├── CodeExpired         past its expiry
      ├── CodeUsed            redeemed before
      ├── CodeWrongDirection  a web code used in a chat, or the reverse
      ├── AlreadyLinked       this identity is linked (to this or another account)
      ├── PlatformTaken       the account already has an identity on that platform
      └── TooManyCodes        too many codes pending at once; says when to try again
 (media: downloads)
 ├── FileTooLarge             over MAX_ATTACHMENT_MB, stated or counted (an InputRejected)
 ├── VoiceTooLong             over MAX_VOICE_SECONDS, as the platform states (an InputRejected)
 ├── FileSourceRefused        a URL outside the hosts files come from (an InputRejected)
 └── DownloadFailed           the platform did not hand the file over
      └── DownloadTimedOut    not within DOWNLOAD_TIMEOUT_S
"""

from __future__ import annotations


class ChatlinkError(Exception):
    """Base class; the message is what the person reads."""

    text = "Something went wrong. Please try again."

    def __init__(self, text: str | None = None) -> None:
        super().__init__(text or self.text)


class ConfigError(ChatlinkError):
    """A setting is missing or wrong."""

    text = "The configuration is invalid."


class InputRejected(ChatlinkError):
    """The input is empty, too long, not text or malformed."""

    text = "That input was not accepted."


class LoginFailed(ChatlinkError):
    """Username or password is wrong."""

    text = "Wrong username or password."


class RateLimited(ChatlinkError):
    """Too many attempts."""

    def __init__(self, what: str, retry_after_s: float, text: str | None = None) -> None:
        self.retry_after_s = max(1, round(retry_after_s))
        super().__init__(text or f"Too many {what}. Try again in {_duration(self.retry_after_s)}.")

    @classmethod
    def custom(cls, text: str, retry_after_s: float) -> RateLimited:
        """A rate limit with its own wording."""
        return cls("", retry_after_s, text)


class Busy(ChatlinkError):
    """Too many password checks are waiting already (LOGIN_QUEUE_MAX)."""

    text = "The server is busy checking passwords. Try again in a few seconds."

    def __init__(self, retry_after_s: int = 2) -> None:
        super().__init__(self.text)
        self.retry_after_s = retry_after_s


class AccountDisabled(ChatlinkError):
    """The account is disabled."""

    text = "This account is disabled. Ask the bot's operator."


class UsernameUnavailable(ChatlinkError):
    """The username is taken."""

    text = "That username is not available. Choose another one."


class RegistrationClosed(ChatlinkError):
    """Registration is closed."""

    text = "Registration is closed here. Ask the bot's operator for an account."


class InviteInvalid(ChatlinkError):
    """The invite code is missing, used up, expired or revoked."""

    text = "Registering here needs a valid invite code: that one is missing, used up or expired."


class NotLinked(ChatlinkError):
    """The sender has no linked account."""

    text = "This chat is not linked to an account. Send /link to link it."


class LinkError(ChatlinkError):
    """A link code cannot be used."""


class CodeInvalid(LinkError):
    """Not a valid code."""

    text = "That link code is not valid. Check that you copied all of it."


class CodeExpired(LinkError):
    """The code expired."""

    text = "That link code has expired. Ask for a new one."


class CodeUsed(LinkError):
    """The code was used."""

    text = "That link code was already used. Ask for a new one."


class CodeWrongDirection(LinkError):
    """The code belongs to the other way of linking."""


class AlreadyLinked(LinkError):
    """The identity is linked already."""


class PlatformTaken(LinkError):
    """The account already has an identity on this platform."""


class TooManyCodes(LinkError):
    """Too many codes are pending; `retry_after_s` is when the oldest one ends."""

    def __init__(self, text: str | None = None, retry_after_s: float = 60) -> None:
        self.retry_after_s = max(1, round(retry_after_s))
        super().__init__(text)


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"


# media: downloads


class FileTooLarge(InputRejected):
    """A file over MAX_ATTACHMENT_MB: refused from its stated size, or cut off at the cap."""

    def __init__(self, limit_bytes: int, size_bytes: int | None = None) -> None:
        limit = _megabytes(limit_bytes)
        if size_bytes is None:
            super().__init__(f"That file is too large: I take files up to {limit}.")
        else:
            size = _megabytes(size_bytes)
            super().__init__(f"That file is too large ({size}): I take files up to {limit}.")


class VoiceTooLong(InputRejected):
    """A voice note or audio file over MAX_VOICE_SECONDS, by the platform's duration."""

    def __init__(self, limit_s: float, duration_s: float) -> None:
        super().__init__(
            f"That recording is too long ({_clock(-(-duration_s // 1))}): "  # rounded up
            f"I take up to {_clock(limit_s)}."
        )


class FileSourceRefused(InputRejected):
    """A file whose address is outside the hosts files are fetched from (DISCORD_CDN_HOSTS)."""

    text = "I can't download that file: it is not stored where this chat's files are."


class DownloadFailed(ChatlinkError):
    """The platform did not hand the file over (gone, refused, the connection broke)."""

    text = "I could not download that file. Please send it again."


class DownloadTimedOut(DownloadFailed):
    """The download took longer than DOWNLOAD_TIMEOUT_S."""

    text = "Downloading that file took too long, so I stopped. Please send it again later."


def _clock(seconds: float) -> str:
    # A length as a player shows it ("5:01", "1:02:03"): "5 minutes" would hide the second over.
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02}:{second:02}" if hours else f"{minute}:{second:02}"


def _megabytes(size: int) -> str:
    # MB as MAX_ATTACHMENT_MB counts them (1024 * 1024 bytes), to one decimal: "10 MB", "12.5 MB".
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


# media: images, documents, speech
# InputRejected
#  ├── NoVision             an image for a model that cannot see
#  ├── ImageRejected        not an image, damaged or cut short, or too many pixels
#  ├── DocumentRejected     a type not read, not what its name says, encrypted or broken
#  └── VoiceRejected        no speech-to-text configured, or nothing heard
# SpeechFailed              the speech-to-text server is down, failing or too slow


class NoVision(InputRejected):
    """The thread's model cannot see images."""

    text = "This model can't see images; /model lists one that can."


class ImageRejected(InputRejected):
    """An image that cannot be used; the text says why."""

    text = "I couldn't open that image: it is damaged, cut short or not an image."


class DocumentRejected(InputRejected):
    """A file that cannot be read; the text says why (and what is supported)."""

    text = "I couldn't read that file."


class VoiceRejected(InputRejected):
    """A voice note that cannot be used; the text says why."""

    text = (
        "I can't listen to voice messages here: no speech-to-text is set up. "
        "Please type your message instead."
    )


class SpeechFailed(ChatlinkError):
    """The speech-to-text server is down, failed or did not answer in time."""

    text = (
        "I couldn't transcribe that voice message: the speech-to-text service is down or too "
        "slow. Please try again in a moment, or type it."
    )
