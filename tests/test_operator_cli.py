"""Operators at the command line: every bad database is one line and exit code 2, the account
tools, backups, prune and migrate reports; each a subprocess of the real `chatlink`."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bot.app import open_chatlink
from bot.errors import LoginFailed
from tests.support.settings import PASSWORD, make_settings
from tests.test_cli import CHATLINK, _env, chatlink

UNREACHABLE_PG = "postgresql://chatlink:pw@127.0.0.1:9/chatlink"  # nothing listens on port 9


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command left on stderr (no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("bogus://x", "DATABASE_URL names an unsupported database 'bogus'"),
        ("mysql://u:p@localhost/db", "unsupported database 'mysql'"),
        ("not a url", "is not a database URL"),
        (UNREACHABLE_PG, "cannot reach PostgreSQL at 127.0.0.1:9: nothing answers there"),
        ("postgresql://u:p@no-such-host.invalid/db", "the host name is unknown"),
    ],
)
@pytest.mark.parametrize("verb", [("stats",), ("migrate",), ("user", "list"), ("run",)])
def test_a_bad_database_is_one_line_and_exit_2(
    tmp_path: Path, url: str, expected: str, verb: tuple[str, ...]
) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL={url}\nWEB_PORT=0\n")
    result = chatlink(tmp_path, *verb, check=False)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert expected in line and "DATABASE_URL" in line
    assert "pw@" not in line


@pytest.mark.parametrize("url", ["bogus://x", UNREACHABLE_PG])
def test_doctor_reports_a_bad_database_as_a_row(tmp_path: Path, url: str) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL={url}\n")
    result = chatlink(tmp_path, "doctor", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    [row] = result.stdout.splitlines()
    assert row.startswith("database") and "FAIL" in row and "DATABASE_URL" in row


def test_plain_sqlite_url_is_given_the_async_driver(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///plain.db\n")
    chatlink(tmp_path, "migrate")
    assert (tmp_path / "plain.db").exists()
    assert "accounts" in chatlink(tmp_path, "stats").stdout


def test_verbs_that_only_read_never_create_a_database(tmp_path: Path) -> None:
    for verb in (("stats",), ("user", "list"), ("link-code", "alice"), ("backup", "x.db")):
        result = chatlink(tmp_path, *verb, check=False)
        assert result.returncode == 2, verb
        assert "no database found at data/chatlink.db" in one_line(result)
    assert not (tmp_path / "data" / "chatlink.db").exists()
    doctor = chatlink(tmp_path, "doctor", check=False)
    assert "none yet at" in doctor.stdout and "Traceback" not in doctor.stderr
    assert not (tmp_path / "data" / "chatlink.db").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_read_only_data_folder_is_one_line(tmp_path: Path) -> None:
    chatlink(tmp_path, "migrate")
    data = tmp_path / "data"
    # A read-only bind mount in a user namespace: read-only even for root, no host change.
    mount = f"mount --bind {data} {data} && mount -o remount,bind,ro {data}"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces with mounts are not allowed here")
    for verb in ("stats", "migrate"):
        result = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$@"', "sh", *CHATLINK, verb],
            cwd=tmp_path, env=_env(), text=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        line = one_line(result)
        assert "cannot be written" in line and "write access" in line


def test_misspelled_settings_are_warned_about_with_the_closest_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_PROT=8080\n")
    result = subprocess.run(
        [*CHATLINK, "migrate"], cwd=tmp_path, env=_env() | {"TELEGRAM_TOKEN": "1:x"},
        text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "TELEGRAM_TOKEN is not a chatlink setting" in result.stderr
    assert "did you mean TELEGRAM_BOT_TOKEN?" in result.stderr
    assert "WEB_PROT is not a chatlink setting and is ignored: did you mean WEB_PORT?" in (
        result.stderr
    )


def test_no_command_lists_the_commands_and_version(tmp_path: Path) -> None:
    listing = chatlink(tmp_path)
    for verb in ("run", "migrate", "user", "doctor", "prune", "backup", "stats"):
        assert f"\n    {verb}" in listing.stdout
    assert chatlink(tmp_path, "--version").stdout.startswith("chatlink ")


def test_migrate_says_what_it_applied(tmp_path: Path) -> None:
    first = chatlink(tmp_path, "migrate").stdout.splitlines()
    assert first[0].startswith("applied 0001: ")
    assert first[-1].startswith("database is up to date: schema at ")
    assert chatlink(tmp_path, "migrate").stdout.strip() == (
        "database is up to date: no migration was due"
    )


async def test_passwd_ends_the_old_password(tmp_path: Path) -> None:
    chatlink(tmp_path, "user", "add", "alice", stdin=PASSWORD + "\n")
    new = "another-long-password"
    changed = chatlink(tmp_path, "user", "passwd", "Alice", stdin=new + "\n")
    assert "password of alice changed" in changed.stdout
    assert new not in changed.stdout + changed.stderr
    weak = chatlink(tmp_path, "user", "passwd", "alice", stdin="short\n", check=False)
    assert weak.returncode == 1 and "at least 8" in weak.stderr
    nobody = chatlink(tmp_path, "user", "passwd", "nobody", stdin=new + "\n", check=False)
    assert nobody.returncode == 1 and "No account named 'nobody'" in one_line(nobody)
    key = (tmp_path / "data" / "secret_key").read_text().strip()
    async with open_chatlink(make_settings(tmp_path, secret_key=key)) as app:
        await app.accounts.authenticate("alice", new)
        with pytest.raises(LoginFailed):
            await app.accounts.authenticate("alice", PASSWORD)


def test_delete_asks_unless_yes(tmp_path: Path) -> None:
    chatlink(tmp_path, "user", "add", "alice", stdin=PASSWORD + "\n")
    unasked = chatlink(tmp_path, "user", "delete", "alice", check=False)
    assert unasked.returncode == 1 and "--yes" in one_line(unasked)
    assert "alice" in chatlink(tmp_path, "user", "list").stdout
    assert "deleted account alice" in chatlink(tmp_path, "user", "delete", "alice", "--yes").stdout
    assert "0 account(s)" in chatlink(tmp_path, "user", "list").stdout
    again = chatlink(tmp_path, "user", "delete", "alice", "--yes", check=False)
    assert again.returncode == 1 and "No account named" in one_line(again)


def test_promote_twice_and_list_columns(tmp_path: Path) -> None:
    chatlink(tmp_path, "user", "add", "root", stdin=PASSWORD + "\n")
    chatlink(tmp_path, "user", "add", "bob", stdin=PASSWORD + "\n")
    exists = chatlink(tmp_path, "user", "add", "ROOT", stdin=PASSWORD + "\n", check=False)
    assert exists.returncode == 1 and "An account named 'ROOT' exists already" in one_line(exists)
    assert "is now an admin" in chatlink(tmp_path, "user", "promote", "root").stdout
    assert "is already an admin" in chatlink(tmp_path, "user", "promote", "root").stdout
    assert "was no admin" in chatlink(tmp_path, "user", "demote", "bob").stdout
    chatlink(tmp_path, "user", "disable", "bob")
    listing = chatlink(tmp_path, "user", "list").stdout.splitlines()
    assert listing[0].split() == ["username", "created", "(UTC)", "role", "state", "linked"]
    rows = {line.split()[0]: line.split()[3:5] for line in listing[1:-1]}
    assert rows == {"root": ["admin", "active"], "bob": ["user", "disabled"]}
    with sqlite3.connect(tmp_path / "data" / "chatlink.db") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit WHERE target = 'root'")]
        assert actions.count("account.promote") == 1


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    chatlink(tmp_path, "user", "add", "alice", stdin=PASSWORD + "\n")
    made = chatlink(tmp_path, "backup", "copies/one.db")
    assert "backed up" in made.stdout
    with sqlite3.connect(tmp_path / "copies" / "one.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT username FROM accounts").fetchall() == [("alice",)]
    again = chatlink(tmp_path, "backup", "copies/one.db", check=False)
    assert again.returncode == 1 and "exists already" in one_line(again)
    assert not (tmp_path / "copies" / "one.db.partial").exists()


def test_prune_vacuum(tmp_path: Path) -> None:
    chatlink(tmp_path, "migrate")
    result = chatlink(tmp_path, "prune", "--days", "30", "--vacuum")
    assert "deleted 0 message(s)" in result.stdout and "compacted" in result.stdout
    assert chatlink(tmp_path, "prune", "--days", "0", check=False).returncode == 1


def test_doctor_says_the_bot_api_is_unreachable_first(tmp_path: Path) -> None:
    chatlink(tmp_path, "migrate")
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nTELEGRAM_API_BASE_URL=http://127.0.0.1:9/bot\n"
    )
    result = chatlink(tmp_path, "doctor", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [row] = [line for line in result.stdout.splitlines() if line.startswith("telegram")]
    assert "FAIL  the Bot API is unreachable from this machine" in row
    assert row.endswith("check its network, DNS and firewall and TELEGRAM_API_BASE_URL")


def test_results_on_stdout_and_no_log_lines_around_them(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"SECRET_KEY={'k' * 40}\n")
    created = chatlink(tmp_path, "invite", "create")
    assert created.stderr == ""
    assert created.stdout.splitlines()[0].startswith("Invite 1: 1 use(s)")
