"""Start-up: `chatlink run` with nothing configured until GET /healthz answers 200, against
`python -c "import fastapi, uvicorn"` run to its end, in turns in the same run.

    .venv/bin/python benchmarks/startup.py [--runs 7]

chatlink starts in a clean environment (no setting but DATA_DIR and WEB_PORT) the way
people start it (`python -m adapters.compose run`, the `chatlink run` command), twice per
round: on a new data folder (the secret key is generated and every migration runs) and again on
the same folder (a restart: the database is at head). Each round also checks which platform
libraries the process imported: doors that are not configured must not load theirs (read from
`-X importtime` in one more run, untimed).
Both run with compiled bytecode, as an installed package has it: the children write theirs to
a cache folder of this run (PYTHONPYCACHEPREFIX) even where PYTHONDONTWRITEBYTECODE is set, and
a warm-up run of each fills it. Prints the median and fastest seconds of each and the ratio of
the medians.
Not a test: the machine is shared and noisy; compare the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import Settings  # noqa: E402
from tests.fakes.serve import free_port  # noqa: E402

# Platform libraries (and SDKs) no unconfigured door may import.
UNWANTED = ("telegram", "discord", "openai", "anthropic", "mcp", "PIL", "pypdf")
START_WITHIN_S = 60
CACHE = tempfile.mkdtemp(prefix="chatlink-startup-pycache-")


def child_env() -> dict[str, str]:
    """This environment without chatlink's settings, writing bytecode to this run's cache."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONIMPORTTIME", None)
    return env | {"PYTHONPYCACHEPREFIX": CACHE}


def baseline() -> float:
    """Seconds for `python -c "import fastapi, uvicorn"` from spawn to exit."""
    started = time.perf_counter()
    command = [sys.executable, "-c", "import fastapi, uvicorn"]
    subprocess.run(command, check=True, env=child_env())
    return time.perf_counter() - started


def chatlink(folder: Path) -> tuple[float, set[str]]:
    """Seconds from spawning `chatlink run` to a 200 on /healthz; the unwanted imports."""
    port = free_port()
    env = child_env()
    env |= {"PYTHONPATH": str(ROOT), "DATA_DIR": str(folder / "data"), "WEB_PORT": str(port)}
    log = (folder / "server.log").open("w")
    command = [sys.executable, "-X", "importtime", "-m", "adapters.compose", "run"]
    if os.environ.get("STARTUP_NO_IMPORTTIME"):
        command.remove("-X")
        command.remove("importtime")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.perf_counter() - started > START_WITHIN_S:
                    logged = (folder / "server.log").read_text()
                    raise SystemExit(f"chatlink did not start:\n{logged}") from None
                time.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    imported = set()
    for line in (folder / "server.log").read_text().splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            imported.add(name.split(".")[0])
    return elapsed, imported & set(UNWANTED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    # -X importtime costs time itself: the timed runs go without it, one more run lists.
    os.environ["STARTUP_NO_IMPORTTIME"] = "1"
    fresh: list[float] = []
    again: list[float] = []
    bare: list[float] = []
    baseline()  # warm the file and bytecode caches
    with tempfile.TemporaryDirectory() as tmp:
        chatlink(Path(tmp))
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            fresh.append(chatlink(Path(tmp))[0])
            again.append(chatlink(Path(tmp))[0])
        bare.append(baseline())
    del os.environ["STARTUP_NO_IMPORTTIME"]
    with tempfile.TemporaryDirectory() as tmp:
        chatlink(Path(tmp))
        _, unwanted = chatlink(Path(tmp))
    base = statistics.median(bare)
    print(f"{'measure':<56} {'median s':>9} {'fastest s':>9} {'ratio':>7}")
    for label, values in (
        ("chatlink run to /healthz 200, restart (database at head)", again),
        ("chatlink run to /healthz 200, first start (migrations)", fresh),
        ('python -c "import fastapi, uvicorn"', bare),
    ):
        median = statistics.median(values)
        print(f"{label:<56} {median:>9.3f} {min(values):>9.3f} {median / base:>7.2f}")
    label = "platform libraries imported (none configured)"
    print(f"{label:<56} {', '.join(sorted(unwanted)) or 'none':>9}")


if __name__ == "__main__":
    main()
