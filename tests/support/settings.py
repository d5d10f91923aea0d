"""Settings isolated from the environment, the test secrets, and a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bot.settings import Settings

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings isolated from the environment and any .env file."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/data/chatlink.db",
        "secret_key": SECRET,
        "web_port": 0,  # any free port
        "rate_limit_per_minute": 0,  # tests send bursts; the limit has tests of its own
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
