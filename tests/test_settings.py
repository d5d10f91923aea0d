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


def test_webhook_mode_needs_the_web_door_and_its_path(tmp_path: Path) -> None:
    webhook = {
        "telegram_bot_token": "123:abc",
        "telegram_mode": "webhook",
        "telegram_webhook_url": "https://bot.example.org/telegram/webhook",
    }
    assert make_settings(tmp_path, **webhook).web_enabled
    with pytest.raises(ValidationError) as off:
        make_settings(tmp_path, **webhook, web_enabled=False)
    [error] = off.value.errors()
    assert "TELEGRAM_MODE=webhook needs WEB_ENABLED=true" in error["msg"]
    assert "\n" not in error["msg"]
    elsewhere = webhook | {"telegram_webhook_url": "https://bot.example.org/telegram/hook"}
    with pytest.raises(
        ValidationError, match=r"path must be /telegram/webhook .* not /telegram/hook"
    ):
        make_settings(tmp_path, **elsewhere)
    # Without a token there is no Telegram door, so nothing to refuse.
    make_settings(tmp_path, **(elsewhere | {"telegram_bot_token": None}), web_enabled=False)


def test_retired_webhook_port_is_warned_about(tmp_path: Path) -> None:
    import os

    (tmp_path / ".env").write_text("TELEGRAM_WEBHOOK_LISTEN=0.0.0.0\n")
    os.environ["TELEGRAM_WEBHOOK_PORT"] = "8443"
    try:
        from bot.settings import Settings

        settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
        lines = settings.retired()
        assert [line.split()[0] for line in lines] == [
            "TELEGRAM_WEBHOOK_LISTEN", "TELEGRAM_WEBHOOK_PORT",
        ]  # fmt: skip
        assert all("WEB_PORT at /telegram/webhook" in line for line in lines)
        assert not hasattr(settings, "telegram_webhook_port")
    finally:
        del os.environ["TELEGRAM_WEBHOOK_PORT"]
    assert make_settings(tmp_path).retired() == []
