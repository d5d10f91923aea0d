"""The `chatlink` command line, run as a subprocess on a fresh folder with nothing configured."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.cli.event_loop import run_on_loop, running_loop_name
from bot.app import open_chatlink
from tests.support.people import dm
from tests.support.settings import PASSWORD, make_settings

CHATLINK = [sys.executable, "-m", "adapters.compose"]
ROOT = Path(__file__).parent.parent


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DATABASE_"))}
    env["PYTHONPATH"] = str(ROOT)
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "DATA_DIR", "LLM_PROVIDER"):
        env.pop(name, None)
    return env


def chatlink(
    cwd: Path, *args: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CHATLINK, *args], cwd=cwd, env=_env(), input=stdin, text=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize(
    "args",
    [(), ("run",), ("migrate",), ("user",), ("user", "add"), ("user", "list"),
     ("user", "disable"), ("user", "enable"), ("user", "promote"), ("user", "demote"),
     ("link-code",), ("stats",), ("prune",), ("doctor",), ("invite",), ("invite", "create"),
     ("invite", "list"), ("invite", "revoke")],
)  # fmt: skip
def test_help_on_every_command(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = chatlink(tmp_path, *args, "--help")
    assert result.stdout.startswith("usage: ")


async def test_user_add_link_code_and_stats(tmp_path: Path) -> None:
    created = chatlink(tmp_path, "user", "add", "Alice", stdin=PASSWORD + "\n")
    assert "created account alice" in created.stdout
    assert PASSWORD not in created.stdout + created.stderr
    assert (tmp_path / "data" / "chatlink.db").exists()
    assert (tmp_path / "data" / "secret_key").exists()

    duplicate = chatlink(tmp_path, "user", "add", "ALICE", stdin=PASSWORD + "\n", check=False)
    assert duplicate.returncode == 1 and "not available" in duplicate.stderr

    weak = chatlink(tmp_path, "user", "add", "bob", stdin="short\n", check=False)
    assert weak.returncode == 1 and "at least 8" in weak.stderr

    code = chatlink(tmp_path, "link-code", "alice").stdout.strip().splitlines()[-1]
    assert code not in chatlink(tmp_path, "stats").stderr

    # the code printed by the CLI links a chat in the same database (same generated key)
    key = (tmp_path / "data" / "secret_key").read_text().strip()
    settings = make_settings(
        tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/data/chatlink.db", secret_key=key
    )
    async with open_chatlink(settings) as app:
        [reply] = await app.core.handle(dm(f"/link {code}"))
        assert "account alice" in reply.text
        await app.core.handle(dm("hello"))

    stats = {
        name.strip(): value
        for name, value in (
            line.rsplit("  ", 1) for line in chatlink(tmp_path, "stats").stdout.splitlines()
        )
    }
    assert stats["accounts"] == "1 (0 disabled)"
    assert stats["linked telegram identities"] == "1"
    assert stats["messages"] == "2" and stats["pending link codes"] == "0"
    assert stats["database size"].endswith("KiB")

    listing = chatlink(tmp_path, "user", "list").stdout
    assert "alice" in listing and "telegram" in listing and "1 account(s)" in listing

    assert "disabled" in chatlink(tmp_path, "user", "disable", "alice").stdout
    assert "disabled" in chatlink(tmp_path, "user", "list").stdout
    missing = chatlink(tmp_path, "user", "disable", "nobody", check=False)
    assert missing.returncode == 1 and "No account named" in missing.stderr
    nobody = chatlink(tmp_path, "link-code", "nobody", check=False)
    assert nobody.returncode == 1


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET_KEY=short\n")
    result = chatlink(tmp_path, "stats", check=False)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr and "at least 32 bytes" in result.stderr
    assert "Traceback" not in result.stderr


def test_webhook_mode_without_the_web_door_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nTELEGRAM_MODE=webhook\n"
        "TELEGRAM_WEBHOOK_URL=https://bot.example.org/telegram/webhook\nWEB_ENABLED=false\n"
    )
    result = chatlink(tmp_path, "run", check=False)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("chatlink: TELEGRAM_MODE=webhook needs WEB_ENABLED=true")


def test_migrate(tmp_path: Path) -> None:
    assert "up to date" in chatlink(tmp_path, "migrate").stdout
    assert "up to date" in chatlink(tmp_path, "migrate").stdout


def test_run_with_an_unreachable_telegram_keeps_trying(tmp_path: Path) -> None:
    # Issue #19 turned this around: an unreachable Bot API no longer stops the process (it
    # exited 1 with "The telegram door could not start"); the door retries while the others
    # serve (tests/test_door_reconnect.py), and SIGTERM still ends it cleanly.
    env = _env() | {
        "TELEGRAM_BOT_TOKEN": "123:secret-token-value",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",  # nothing listens on port 9
        "WEB_PORT": "0",
    }
    process = subprocess.Popen(
        [*CHATLINK, "run"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C or SIGTERM" in line or not line:
            break
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    output = "".join(lines) + out
    assert process.returncode == 0, output
    assert "telegram: cannot reach the platform" in output and "1 still connecting" in output
    assert "secret-token-value" not in output and "Traceback" not in output


def test_run_says_what_is_configured_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _env() | {"WEB_PORT": "0"}
    process = subprocess.Popen(
        [*CHATLINK, "run"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C or SIGTERM" in line or not line:
            break
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    output = "".join(lines) + out
    assert process.returncode == 0, output
    assert "TELEGRAM_BOT_TOKEN is not set" in output
    assert "DISCORD_BOT_TOKEN is not set" in output
    assert "web page and API on http://127.0.0.1:" in output
    assert re.search(r"chatlink \S+ on uvloop: provider echo", output), output
    assert "stopped cleanly" in output


def test_run_on_asyncio_s_own_loop_when_told(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("EVENT_LOOP=asyncio\nWEB_ENABLED=false\n")
    process = subprocess.Popen(
        [*CHATLINK, "run"], cwd=tmp_path, env=_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C or SIGTERM" in line:  # serving, the signal handlers in place
            break
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 0, lines
    assert any(" on asyncio: provider echo" in line for line in lines), lines


def test_the_event_loop_each_setting_gives() -> None:
    async def which() -> int:
        return {"uvloop": 1, "asyncio": 2}[running_loop_name()]

    assert [run_on_loop(which(), c) for c in ("auto", "uvloop", "asyncio")] == [1, 1, 2]


def test_an_event_loop_that_is_not_installed_or_unknown_is_refused(tmp_path: Path) -> None:
    """EVENT_LOOP=uvloop without uvloop says so; auto falls back to asyncio's loop."""
    script = (
        "import sys; sys.modules['uvloop'] = None; sys.argv = ['chatlink', 'migrate']; "
        "import adapters.compose; adapters.compose.main()"
    )
    env = _env() | {"DATA_DIR": str(tmp_path), "EVENT_LOOP": "uvloop"}
    run = [sys.executable, "-c", script]
    refused = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "chatlink: EVENT_LOOP=uvloop, but uvloop is not installed here: "
        "install it (pip install uvloop) or set EVENT_LOOP=auto"
    )
    assert not (tmp_path / "chatlink.db").exists()  # nothing was done
    env["EVENT_LOOP"] = "auto"
    fallback = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert fallback.returncode == 0, fallback.stderr
    assert "up to date" in fallback.stdout
    (tmp_path / ".env").write_text("EVENT_LOOP=trio\n")
    unknown = chatlink(tmp_path, "migrate", check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("chatlink: setting EVENT_LOOP: Input should be 'auto',")
    assert not (tmp_path / "data").exists()


def test_prune_dry_run(tmp_path: Path) -> None:
    refused = chatlink(tmp_path, "prune", "--dry-run", check=False)
    assert refused.returncode == 1 and "RETENTION_DAYS" in refused.stderr
    result = chatlink(tmp_path, "prune", "--dry-run", "--days", "30")
    assert "0 message(s) older than 30 days would be deleted" in result.stdout


def test_invites_and_admins_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REGISTRATION=invite\n")
    created = chatlink(tmp_path, "invite", "create", "--uses", "2", "--expires", "12h")
    code = created.stdout.strip().splitlines()[-1]
    assert "2 use(s)" in created.stdout and len(code) >= 16
    listing = chatlink(tmp_path, "invite", "list").stdout
    assert re.search(r"^\s+1\s+2\s+0\s+\S+ \S+\s+active$", listing, re.M), listing
    bad = chatlink(tmp_path, "invite", "create", "--expires", "soon", check=False)
    assert bad.returncode == 1 and "Not a duration" in bad.stderr
    assert "revoked" in chatlink(tmp_path, "invite", "revoke", "1").stdout
    assert "revoked" in chatlink(tmp_path, "invite", "list").stdout
    missing = chatlink(tmp_path, "invite", "revoke", "1", check=False)
    assert missing.returncode == 1 and "No active invite" in missing.stderr
    # the operator adds accounts whatever the policy
    chatlink(tmp_path, "user", "add", "root", stdin=PASSWORD + "\n")
    assert "is now an admin" in chatlink(tmp_path, "user", "promote", "root").stdout
    assert "admin" in chatlink(tmp_path, "user", "list").stdout
    assert "is no admin" in chatlink(tmp_path, "user", "demote", "root").stdout


def test_a_served_process_freezes_what_it_built_and_collects_less_often() -> None:
    """`chatlink run` settles the collector before it serves (see settle_collector)."""
    script = (
        "import gc; from adapters.cli.main import GC_THRESHOLDS, settle_collector; "
        "before = gc.get_freeze_count(); gc.disable(); settle_collector(); "
        "print(before, gc.get_freeze_count() > 0, gc.get_threshold() == GC_THRESHOLDS, "
        "gc.isenabled())"
    )
    assert _python(script) == ["0", "True", "True", "True"]


def test_a_one_shot_command_runs_with_the_collector_on() -> None:
    """Off while `chatlink` starts (adapters.compose.main), on again once a command other
    than `run` is read."""
    script = (
        "import gc, sys; import adapters.cli.main as cli; "
        "cli.run_on_loop = lambda work, choice: (work.close(), print(gc.isenabled()), 0)[2]; "
        "sys.argv = ['chatlink', 'stats']; import adapters.compose; adapters.compose.main()"
    )
    assert _python(script) == ["True"]


def _python(script: str) -> list[str]:
    """What `script`, run by this Python in the project folder, prints (split in words)."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(), text=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()
