"""The dependency rule: adapters -> bot -> storage, and SQL stays in storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PLATFORM_LIBRARIES = {"telegram", "discord", "fastapi", "starlette", "uvicorn", "adapters"}


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


def test_no_adapter_imports_another() -> None:
    # Only the composition root sees every adapter; an adapter imports only its own package.
    for module, names in _modules("adapters").items():
        parts = module.split("/")
        if module == "adapters/compose.py" or len(parts) < 3:
            continue
        own = f"adapters.{parts[1]}"
        foreign = {n for n in names if n.startswith("adapters") and not n.startswith(own)}
        assert not foreign, (module, foreign)
