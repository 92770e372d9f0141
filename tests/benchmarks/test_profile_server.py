"""The profile summary: busy samples land in the first matching category, idle threads are left out."""

from __future__ import annotations

from benchmarks.profile_server import summarise


def test_summarise_counts_busy_samples_by_category() -> None:
    frames = [
        {"name": "WorkerThread.run", "file": "anyio/_backends/_asyncio.py"},
        {"name": "verify_password", "file": "api/security.py"},
        {"name": "verify_secret", "file": "argon2/low_level.py"},
        {"name": "do_execute", "file": "sqlalchemy/engine/default.py"},
        {"name": "Condition.wait", "file": "threading.py"},
        {"name": "search", "file": "pymilvus/milvus_client/milvus_client.py"},
    ]
    profile = {
        "samples": [[0, 1, 2], [0, 3], [0, 3], [0, 4], [0, 5], [0]],
        "weights": [1.0, 0.5, 0.5, 3.0, 1.0, 1.0],
    }
    summary = summarise({"shared": {"frames": frames}, "profiles": [profile]})
    assert summary["idle_thread_seconds"] == 3.0
    assert summary["busy_thread_seconds"] == 4.0
    assert summary["share"] == {
        "Argon2 password hashing (sign-up, login)": 0.25,
        "SQL statements (driver execute + fetch)": 0.25,
        "Milvus calls (pymilvus, gRPC)": 0.25,
        "HTTP, ASGI, dependencies": 0.25,
    }
