"""The house: adapters -> bot -> storage, rooms inside bot/ that import one way, SQL only in
storage, public surfaces in each subpackage's __init__, and no module too long to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PLATFORM_LIBRARIES = {"telegram", "discord", "fastapi", "starlette", "uvicorn", "adapters"}
MAX_LINES = 400

# What each room of bot/ may import from bot/ besides itself: arrows point one way, from the
# assembly down through the conversation to the services it uses and the leaf modules.
LEAVES = {"errors", "clock", "messages", "settings", "live_progress"}
ROOMS: dict[str, set[str]] = {
    "errors": set(),
    "clock": set(),
    "messages": {"errors"},  # a refused Reply carries its error
    "live_progress": {"messages"},  # a door's live updates, for plain replies and tool rounds
    "settings": set(),
    "proxies": set(),  # the proxy the environment names, for aiohttp clients
    "secret": {"errors", "settings"},
    "monitoring": {"messages"},
    "providers": {"errors", "proxies", "settings"},
    # What comes with a message: downloads, images, documents, speech to text.
    "media": {"errors", "messages", "settings"},
    "limits": {"errors", "clock"},
    "delivery": {"errors", "messages"},
    "rendering": {"delivery"},  # Markdown to what each door shows, split as delivery splits
    "accounts": {"clock", "errors", "limits", "monitoring"},
    "linking": {"accounts", "clock", "delivery", "errors", "limits", "monitoring"},
    # MCP servers and the tool loop: what the model may call, for whom.
    "tools": {"errors", "live_progress", "messages", "monitoring", "providers"},
    "conversation": LEAVES
    | {"accounts", "delivery", "limits", "linking", "media", "monitoring", "providers", "tools"},
    "operations": LEAVES
    | {"accounts", "conversation", "limits", "linking", "monitoring", "providers", "tools"},
    "app": LEAVES
    | {
        "accounts",
        "conversation",
        "delivery",
        "limits",
        "linking",
        "media",
        "monitoring",
        "operations",
        "providers",
        "secret",
        "tools",
    },
}
SUBPACKAGES = {path.name for path in (ROOT / "bot").iterdir() if (path / "__init__.py").exists()}


def _modules(package: str) -> dict[str, set[str]]:
    """Every absolute import of each module in `package`, as full dotted names."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _imports(package: str) -> dict[str, set[str]]:
    return {m: {n.split(".")[0] for n in names} for m, names in _modules(package).items()}


def _room(module: str) -> str:
    """`bot/linking/codec.py` -> linking; `bot/app.py` -> app."""
    parts = Path(module).with_suffix("").parts
    return parts[1]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("bot", PLATFORM_LIBRARIES | {"sqlalchemy", "alembic"}),
        ("storage", PLATFORM_LIBRARIES | {"bot"}),
        ("adapters", {"sqlalchemy", "alembic", "storage", "aiosqlite", "asyncpg"}),
    ],
)
def test_dependency_rule(package: str, forbidden: set[str]) -> None:
    offenders = {
        module: sorted(names & forbidden)
        for module, names in _imports(package).items()
        if names & forbidden
    }
    assert offenders == {}


def test_every_room_is_known() -> None:
    rooms = {_room(module) for module in _modules("bot")} - {"__init__"}
    assert rooms <= set(ROOMS), sorted(rooms - set(ROOMS))


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_rooms_import_one_way(room: str) -> None:
    offenders = {}
    for module, names in _modules("bot").items():
        if _room(module) != room:
            continue
        used = {n.split(".")[1] for n in names if n.startswith("bot.")} - {room}
        if used - ROOMS[room]:
            offenders[module] = sorted(used - ROOMS[room])
    assert offenders == {}


def test_rooms_are_entered_through_their_front_door() -> None:
    # Outside a subpackage, only what its __init__ names is used: `bot.linking`, never
    # `bot.linking.codec`.
    offenders = {}
    for package in ("bot", "adapters"):
        for module, names in _modules(package).items():
            own = _room(module) if package == "bot" else None
            inner = {
                n
                for n in names
                if n.startswith("bot.")
                and len(n.split(".")) > 2
                and n.split(".")[1] in SUBPACKAGES
                and n.split(".")[1] != own
            }
            if inner:
                offenders[module] = sorted(inner)
    assert offenders == {}


def test_no_adapter_imports_another() -> None:
    # Only the composition root sees every adapter; an adapter imports only its own package.
    for module, names in _modules("adapters").items():
        parts = module.split("/")
        if module == "adapters/compose.py" or len(parts) < 3:
            continue
        own = f"adapters.{parts[1]}"
        foreign = {n for n in names if n.startswith("adapters") and not n.startswith(own)}
        assert not foreign, (module, foreign)


def test_modules_stay_readable() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in ("bot", "adapters", "storage")
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
