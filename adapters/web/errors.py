"""HTTP status for each core error; the body is always the core's short text."""

from __future__ import annotations

from bot import errors

STATUS: list[tuple[type[errors.ChatlinkError], int]] = [
    (errors.LoginFailed, 401),
    (errors.AccountDisabled, 403),
    (errors.RegistrationClosed, 403),
    (errors.InviteInvalid, 403),
    (errors.RateLimited, 429),
    (errors.TooManyCodes, 429),
    (errors.UsernameUnavailable, 409),
    (errors.CodeUsed, 409),
    (errors.AlreadyLinked, 409),
    (errors.PlatformTaken, 409),
    (errors.CodeExpired, 410),
    (errors.CodeInvalid, 400),
    (errors.CodeWrongDirection, 400),
    (errors.NotLinked, 400),
    (errors.InputRejected, 422),
    (errors.Busy, 503),
    (errors.SpeechFailed, 503),
    (errors.ConfigError, 500),
]


def status_of(error: errors.ChatlinkError) -> int:
    """The HTTP status that answers `error`."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


def headers_of(error: errors.ChatlinkError) -> dict[str, str]:
    """Extra headers: Retry-After for every 429 (rate limits, too many pending codes) and
    for a 503 of a full password queue."""
    if isinstance(error, errors.RateLimited | errors.TooManyCodes | errors.Busy):
        return {"Retry-After": str(error.retry_after_s)}
    return {}
