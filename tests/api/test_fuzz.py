"""Schemathesis over the listener API's OpenAPI document: a live server on the test stack, signed in, every
check on, at least 15 examples per operation, all phases (examples, coverage, fuzzing and the stateful phase
over the links schemathesis infers between operations, e.g. a created playlist's id into its routes).

The B2B routes (`/v1`) are fuzzed by the B2B suite, not here. The summary this test prints (`-s`) is recorded in
docs/BENCHMARKS.md ("Fuzzing")."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app

#: examples per operation and phase; the issue asks for at least 15
MAX_EXAMPLES = 15
#: every check stays on; one is told what this API answers to schema-valid input that breaks a rule JSON Schema
#: cannot state (seeds that repeat, both or neither of seed_track_ids / seed_upload_id, following yourself, an
#: empty audio file): a documented 422 problem, alongside the statuses schemathesis accepts by default
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


@pytest.fixture
def live_api(stack: dict[str, Any]) -> Iterator[str]:
    """The API on the test stack, served by uvicorn on a free port in this process."""
    app = create_app(settings=stack["settings"], track_index=stack["index"], encoder=stack["encoder"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _sign_in(base: str, stack: dict[str, Any]) -> str:
    """A fresh listener with a playlist (so reads of real ids are reachable); returns the access token."""
    creds = {"email": f"fuzz-{uuid.uuid4().hex[:8]}@example.org", "password": "a long enough password"}
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/api/auth/signup", json={**creds, "display_name": "Fuzz"}).status_code == 201
        token = str(client.post("/api/auth/login", json=creds).json()["access_token"])
        seed = int(stack["vectors"].track_ids[0])
        made = client.post(
            "/api/playlists", json={"seed_track_ids": [seed], "size": 5}, headers={"Authorization": f"Bearer {token}"}
        )
        assert made.status_code == 201, made.text
    return token


@pytest.mark.slow
def test_fuzzing_finds_no_server_errors_and_no_contract_failures(
    live_api: str, stack: dict[str, Any], tmp_path: Path
) -> None:
    token = _sign_in(live_api, stack)
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    cmd = [
        cli,
        "--config-file",
        str(config),
        "run",
        f"{live_api}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--exclude-path-regex",
        "^/v1",
        "--header",
        f"Authorization: Bearer {token}",
        "--seed",
        os.environ.get("MUSEED_FUZZ_SEED", "18"),  # fixed in CI: a failure reproduces
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "--no-color",
        "--output-truncate",
        "false",
    ]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    elapsed = time.perf_counter() - started
    out = run.stdout + run.stderr
    summary = out[out.rfind("SUMMARY") :] if "SUMMARY" in out else out[-3000:]
    shown = " ".join(cmd[3:]).replace(token, "<token>")
    print(f"\nschemathesis ({elapsed:.0f} s): {shown}\n{summary}")
    assert run.returncode == 0, out[-20000:]
    assert not re.search(r"Server error", out), "server errors found"
