"""MODELS_FILE and PERSONAS_FILE: the operator's catalogue of models and personas, in TOML."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

PROVIDERS = ("echo", "openai", "anthropic")
# What users type after /model or /persona: short, no spaces, so chat menus can offer it.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
OFF = "off"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One `[[models]]` entry: what users call it and how to reach it."""

    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    context_tokens: int = 8192
    max_tokens: int = 1024
    temperature: float = 0.7
    vision: bool = False
    tools: bool = False
    admin_only: bool = False
    description: str = ""
    default: bool = False

    def api_key(self) -> str | None:
        """The key from the variable `api_key_env` names (checked at load time)."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True, slots=True)
class Persona:
    """One `[[personas]]` entry; `model` pins a model while the persona is on."""

    name: str
    description: str
    prompt: str
    model: str | None = None


_MODEL_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "provider": (str,),
    "model": (str,),
    "base_url": (str,),
    "api_key_env": (str,),
    "context_tokens": (int,),
    "max_tokens": (int,),
    "temperature": (int, float),
    "vision": (bool,),
    "tools": (bool,),
    "admin_only": (bool,),
    "description": (str,),
    "default": (bool,),
}
_PERSONA_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "prompt": (str,),
    "model": (str,),
}


def _read(setting: str, path: Path, table: str) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{setting} {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The message carries "(at line N, column M)".
        raise ConfigError(f"{setting} {path}: bad TOML: {exc}") from None
    entries = data.get(table)
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{setting} {path}: no [[{table}]] entries")
    return entries


def _checked(
    setting: str, path: Path, index: int, entry: dict[str, Any], fields: dict[str, tuple[type, ...]]
) -> tuple[str, str]:
    """The entry's name and its place in error lines; ConfigError for wrong keys or types."""
    where = f"{setting} {path}: entry {index}"
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name) or name.lower() == OFF:
        raise ConfigError(
            f"{where}: name must be 1-64 characters of A-Z a-z 0-9 . _ : - (and not 'off')"
        )
    where = f"{where} ({name})"
    for key, value in entry.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown field {key!r}")
        kinds = fields[key]
        # bool is an int to Python, never to an operator.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{where}: {key} must be a {kinds[0].__name__}")
    return name, where


def load_models(path: Path) -> list[ModelSpec]:
    """Every model of MODELS_FILE, the default first; ConfigError naming entry and problem."""
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(_read("MODELS_FILE", path, "models"), start=1):
        name, where = _checked("MODELS_FILE", path, index, entry, _MODEL_FIELDS)
        if name.lower() in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name.lower())
        provider = str(entry.get("provider", "")).strip().lower()
        if provider not in PROVIDERS:
            raise ConfigError(
                f"{where}: unknown provider {entry.get('provider')!r}; choose one of: "
                + ", ".join(PROVIDERS)
            )
        model = str(entry.get("model", "")).strip()
        if provider != "echo" and not model:
            raise ConfigError(f"{where}: model is missing (the model name to ask for)")
        key_env = entry.get("api_key_env")
        if key_env is not None and not os.environ.get(key_env):
            raise ConfigError(f"{where}: the key variable {key_env} is not set")
        if provider == "anthropic" and key_env is None:
            raise ConfigError(f"{where}: anthropic needs api_key_env")
        if provider == "openai" and key_env is None and entry.get("base_url") is None:
            raise ConfigError(f"{where}: openai needs api_key_env, or base_url for a local server")
        for field, low in (("context_tokens", 256), ("max_tokens", 1)):
            if field in entry and entry[field] < low:
                raise ConfigError(f"{where}: {field} must be at least {low}")
        if "temperature" in entry and not 0 <= entry["temperature"] <= 2:
            raise ConfigError(f"{where}: temperature must be between 0 and 2")
        values = entry | {"provider": provider, "model": model or name}
        if "temperature" in values:
            values["temperature"] = float(values["temperature"])
        specs.append(ModelSpec(**values))
    defaults = [spec for spec in specs if spec.default]
    if len(defaults) > 1:
        names = ", ".join(spec.name for spec in defaults)
        raise ConfigError(f"MODELS_FILE {path}: more than one default ({names})")
    first = defaults[0] if defaults else specs[0]
    return [first, *(spec for spec in specs if spec is not first)]


def load_personas(path: Path, models: set[str]) -> list[Persona]:
    """Every persona of PERSONAS_FILE; a pinned model must be in the catalogue."""
    personas: list[Persona] = []
    seen: set[str] = set()
    for index, entry in enumerate(_read("PERSONAS_FILE", path, "personas"), start=1):
        name, where = _checked("PERSONAS_FILE", path, index, entry, _PERSONA_FIELDS)
        if name.lower() in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name.lower())
        if not str(entry.get("prompt", "")).strip():
            raise ConfigError(f"{where}: prompt is missing")
        pinned = entry.get("model")
        if pinned is not None and pinned not in models:
            raise ConfigError(f"{where}: model {pinned!r} is not in the catalogue")
        personas.append(
            Persona(name, str(entry.get("description", "")), str(entry["prompt"]), pinned)
        )
    return personas
