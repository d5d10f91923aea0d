"""A model failure described for the log: status, error type and class, never the message."""

from __future__ import annotations

import re

# Only names the upstream chose from a fixed vocabulary (rate_limit_exceeded,
# overloaded_error): an error's message may quote the key or the prompt, so it is never read.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def describe_failure(error: BaseException) -> str:
    """`status=429 reason=rate_limit_exceeded error=RateLimitError`, or `error=TimeoutError`."""
    parts: list[str] = []
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        parts.append(f"status={status}")
    reason = _reason(error)
    if reason is not None:
        parts.append(f"reason={reason}")
    parts.append(f"error={type(error).__name__}")
    cause = error.__cause__
    if status is None and cause is not None:
        # A connection error says more through what it wraps (ConnectError, ReadTimeout).
        parts.append(f"cause={type(cause).__name__}")
    return " ".join(parts)


def _reason(error: BaseException) -> str | None:
    """The error's code or type, from the OpenAI SDK's attributes or an Anthropic-style body."""
    candidates: list[object] = [getattr(error, "code", None)]
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):  # Anthropic: {"type": "error", "error": {"type": ...}}
            candidates += [inner.get("code"), inner.get("type")]
        candidates += [body.get("code"), body.get("type")]
    candidates.append(getattr(error, "type", None))
    for value in candidates:
        if isinstance(value, str) and value != "error" and _NAME.fullmatch(value):
            return value
    return None
