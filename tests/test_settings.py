"""Settings and the signing key."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.providers import make_provider
from bot.secret import load_secret_key
from tests.support.settings import make_settings


def test_secret_key_is_generated_once_owner_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    with caplog.at_level(logging.WARNING):
        key = load_secret_key(settings)
    assert len(key.encode()) >= 32
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "SECRET_KEY is not set" in caplog.text and key not in caplog.text
    assert load_secret_key(settings) == key  # reused on the next start
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temp files left


def test_configured_secret_key_is_used(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key="k" * 32)
    assert load_secret_key(settings) == "k" * 32
    assert not (tmp_path / "data" / "secret_key").exists()


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make_settings(tmp_path, secret_key="too-short")


def test_short_key_file_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        load_secret_key(settings)


def test_blank_tokens_count_as_unset(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, telegram_bot_token="  ", secret_key="")
    assert settings.telegram_bot_token is None and settings.secret_key is None


def test_unknown_provider_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LLM_PROVIDER='gpt-9'"):
        make_provider(make_settings(tmp_path, llm_provider="gpt-9"))


def test_env_example_documents_every_setting() -> None:
    from bot.settings import Settings

    example = (Path(__file__).parent.parent / ".env.example").read_text()
    documented = {
        line.lstrip("# ").split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_json_logs_are_one_object_per_line_and_redacted() -> None:
    import json

    from bot.monitoring.logs import JsonFormatter

    formatter = JsonFormatter()
    formatter.secrets.add("tok-123")
    record = logging.LogRecord("bot.x", logging.INFO, "f", 1, "using %s", ("tok-123",), None)
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "bot.x"
    assert entry["message"] == "using <redacted>" and "\n" not in line


def test_id_lists_are_comma_separated(tmp_path: Path) -> None:
    import os

    os.environ["TELEGRAM_ALLOWED_CHATS"] = "-100, -200"
    try:
        from bot.settings import Settings

        assert Settings(_env_file=None).telegram_allowed_chats == [-100, -200]  # type: ignore[call-arg]
        os.environ["TELEGRAM_ALLOWED_CHATS"] = "-100,abc"
        with pytest.raises(ValidationError, match="comma-separated list"):
            Settings(_env_file=None)  # type: ignore[call-arg]
    finally:
        del os.environ["TELEGRAM_ALLOWED_CHATS"]
