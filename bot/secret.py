"""The signing key: SECRET_KEY when set, else one generated once into the data folder."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from bot.errors import ConfigError
from bot.settings import MIN_SECRET_KEY_BYTES, Settings

log = logging.getLogger(__name__)

KEY_FILE = "secret_key"


def load_secret_key(settings: Settings) -> str:
    """Return SECRET_KEY, or the generated key in DATA_DIR (made on first run, mode 0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(f"{path} holds a key shorter than {MIN_SECRET_KEY_BYTES} bytes")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written whole to a private temporary file, then hard-linked into place: two
    # processes starting at once agree on one key and never read a half-written file.
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_secret_key(settings)
    finally:
        tmp.unlink()
    log.warning(
        "SECRET_KEY is not set: generated one in %s (owner-only). Set SECRET_KEY for "
        "production and for every replica.",
        path,
    )
    return key


def derive_key(secret_key: str, purpose: str) -> str:
    """A key for one purpose (hex), so a token of one kind can never pass as another."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()
