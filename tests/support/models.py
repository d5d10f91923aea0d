"""Two loopback model servers (OpenAI-compatible, Anthropic-style) and the MODELS_FILE and
PERSONAS_FILE that describe four models and two personas on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.model_apis import FakeModel
from tests.fakes.serve import serve
from tests.support.settings import make_settings

ANTHROPIC_KEY_ENV = "TEST_ANTHROPIC_KEY"

PERSONAS = """
[[personas]]
name = "pirate"
description = "Talks like a pirate"
prompt = "Answer like a pirate."

[[personas]]
name = "poet"
description = "Rhymes, on the Claude model"
prompt = "Answer in rhyme."
model = "claude"
"""


def models_toml(openai_url: str, anthropic_url: str) -> str:
    return f"""
[[models]]
name = "small"
provider = "openai"
model = "small-1"
base_url = "{openai_url}/v1"
description = "Quick"

[[models]]
name = "large"
provider = "openai"
model = "large-2"
base_url = "{openai_url}/v1"
max_tokens = 333

[[models]]
name = "claude"
provider = "anthropic"
model = "claude-x"
base_url = "{anthropic_url}"
api_key_env = "TEST_ANTHROPIC_KEY"

[[models]]
name = "secret"
provider = "openai"
model = "admin-9"
base_url = "{openai_url}/v1"
admin_only = true
"""


class Models:
    """Both stand-ins and the files that describe them."""

    def __init__(self, tmp_path: Path, openai: FakeModel, anthropic: FakeModel) -> None:
        self.tmp_path = tmp_path
        self.openai = openai
        self.anthropic = anthropic
        self.models_file = tmp_path / "models.toml"
        self.personas_file = tmp_path / "personas.toml"
        self.personas_file.write_text(PERSONAS)

    def settings(self, **extra: Any) -> Any:
        values: dict[str, Any] = {
            "models_file": str(self.models_file),
            "personas_file": str(self.personas_file),
            "llm_system_prompt": "You are terse.",
            "llm_timeout_s": 5,
        }
        return make_settings(self.tmp_path, **(values | extra))


@asynccontextmanager
async def model_servers(tmp_path: Path) -> AsyncIterator[Models]:
    """Both stand-ins served on 127.0.0.1 (set ANTHROPIC_KEY_ENV before opening the app)."""
    openai, anthropic = FakeModel(), FakeModel()
    async with serve(openai.openai_app()) as o_url, serve(anthropic.anthropic_app()) as a_url:
        found = Models(tmp_path, openai, anthropic)
        found.models_file.write_text(models_toml(o_url, a_url))
        yield found
