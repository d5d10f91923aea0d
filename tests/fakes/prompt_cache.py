"""A prompt cache for the model stand-ins, keyed on the exact prefix of the prompt, reporting
cached input tokens the way each API does.

A prompt is rendered to text (role markers, then each block's text; a string content is the
same as one text block, as the APIs treat it) and counted at 4 characters a token. The cache
remembers the prefixes it was asked to keep, per model, by their hash:

- OpenAI (automatic): every prefix of a prompt of at least 1,024 tokens, in 128-token steps;
  a request reads the longest such prefix seen before: `prompt_tokens_details.cached_tokens`,
  a multiple of 128 from 1,024 on, or 0, as OpenAI documents.
- Anthropic (explicit): the prefix up to the end of each block marked `cache_control`, if it
  holds at least `min_tokens` (1,024 here for every model; Haiku's 2,048 is not modelled); a
  request reads the longest marked prefix seen before (`cache_read_input_tokens`), writes the
  rest up to its last mark (`cache_creation_input_tokens`), and `input_tokens` is what follows
  the last mark. Simplified: hits are looked for at the marks only (the real API also looks
  back up to 20 blocks before each), and entries never expire (the real ones last 5 minutes
  from their last use): both make this stand-in report no more than the real API would.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4
MAX_MARKS = 4  # the Messages API refuses more blocks with cache_control in one request


def marks_refused(body: dict[str, Any]) -> str | None:
    """What the Messages API says of a request's cache marks, if it refuses them."""
    blocks = [b for b in body.get("system") or [] if isinstance(b, dict)]
    for message in body.get("messages", []):
        content = message.get("content")
        blocks += [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    marks = [b["cache_control"] for b in blocks if "cache_control" in b]
    if len(marks) > MAX_MARKS:
        found = len(marks)
        return f"A maximum of {MAX_MARKS} blocks with cache_control may be provided. Found {found}."
    if any(not isinstance(m, dict) or m.get("type") != "ephemeral" for m in marks):
        return "cache_control.type: Input should be 'ephemeral'"
    return None


def count_tokens(text: str) -> int:
    """The stand-ins' token count."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block["text"])
        else:  # images, tool calls ...: their JSON, without the cache mark
            parts.append(json.dumps({k: v for k, v in block.items() if k != "cache_control"}))
    return "".join(parts)


@dataclass
class PromptCache:
    """The prefixes kept, by hash; shared by every request to one stand-in."""

    min_tokens: int = 1024
    step: int = 128  # OpenAI's increments
    kept: set[str] = field(default_factory=set)

    def _key(self, model: str, prefix: str) -> str:
        return hashlib.sha256(f"{model}\0{prefix}".encode()).hexdigest()

    def openai_usage(self, body: dict[str, Any], reply: str) -> dict[str, Any]:
        """The `usage` of a chat completion: prompt tokens, of them cached, and the reply's."""
        prompt = json.dumps(body.get("tools") or []) + "".join(
            f"<|{m['role']}|>{_text(m.get('content'))}<|end|>" for m in body["messages"]
        )
        model, total = str(body.get("model")), count_tokens(prompt)
        cached = 0
        boundaries = (
            range(self.min_tokens, total + 1, self.step) if total >= self.min_tokens else []
        )
        for tokens in boundaries:
            key = self._key(model, prompt[: tokens * CHARS_PER_TOKEN])
            if key not in self.kept:
                break
            cached = tokens
        for tokens in boundaries:
            self.kept.add(self._key(model, prompt[: tokens * CHARS_PER_TOKEN]))
        completion = count_tokens(reply)
        return {
            "prompt_tokens": total,
            "completion_tokens": completion,
            "total_tokens": total + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    def anthropic_usage(self, body: dict[str, Any]) -> dict[str, int]:
        """The input side of a Messages API `usage`."""
        prompt, marks = json.dumps(body.get("tools") or []), []
        system = body.get("system") or []
        for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
            prompt += "<|system|>" + _text([block])
            if "cache_control" in block:
                marks.append(len(prompt))
        for message in body["messages"]:
            prompt += f"<|{message['role']}|>"
            content = message.get("content")
            for block in (
                [{"type": "text", "text": content}] if isinstance(content, str) else content
            ):
                prompt += _text([block])
                if "cache_control" in block:
                    marks.append(len(prompt))
        model, total = str(body.get("model")), count_tokens(prompt)
        marks = [end for end in marks if count_tokens(prompt[:end]) >= self.min_tokens]
        hits = [end for end in marks if self._key(model, prompt[:end]) in self.kept]
        read = count_tokens(prompt[: max(hits)]) if hits else 0
        last = count_tokens(prompt[: max(marks)]) if marks else 0
        written = max(0, last - read)
        self.kept.update(self._key(model, prompt[:end]) for end in marks)
        return {
            "input_tokens": total - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }
