"""Schemathesis against our own OpenAPI schema: generated requests must never get a 5xx."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx

from adapters.web import WebDoor
from tests.support.settings import PASSWORD

ST = Path(sys.executable).parent / "st"


async def test_no_server_errors_for_generated_requests(
    http: httpx.AsyncClient, web: WebDoor, tmp_path: Path
) -> None:
    await http.post("/api/register", json={"username": "alice", "password": PASSWORD})
    token = (
        await http.post("/api/token", data={"username": "alice", "password": PASSWORD})
    ).json()["access_token"]
    process = await asyncio.create_subprocess_exec(
        str(ST), "run", f"http://127.0.0.1:{web.port}/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", "25",
        "--seed", "20261126",
        "--header", f"Authorization: Bearer {token}",
        "--generation-database", "none",
        "--request-timeout", "20",
        "--no-color",
        cwd=tmp_path,
        env=os.environ | {"NO_PROXY": "127.0.0.1,localhost"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "20 selected / 20 total" in text, text
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 100, text
