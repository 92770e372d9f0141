"""Starting Ray for the embedding job: a private local instance (retried on a slow start) or a named cluster.

A local start is retried because Ray gives its raylet a fixed 30 s to register, which a loaded 2-core machine
can miss; each failed try's processes are killed and the last failure names the tails of Ray's logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("embedding.ray_job")  # the job's logger, as before the split


RAY_START_ATTEMPTS = 3
_RAY_LOGS = ("raylet.err", "raylet.out", "gcs_server.err", "dashboard_agent.log", "runtime_env_agent.log")


def _child_pids() -> set[int]:
    """Direct children of this process (Linux /proc; empty elsewhere): what a failed `ray.init` leaves behind."""
    me, kids = os.getpid(), set()
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
            ppid = int(entry.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            kids.add(int(entry.parent.name))
    return kids


def _ray_start_diagnostics(lines: int = 8) -> str:
    """The last lines of the newest local Ray session's raylet/GCS/agent logs, to say why a start failed."""
    import tempfile

    session = Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    parts = []
    for name in _RAY_LOGS:
        try:
            tail = (session / name).read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            parts.append(f"--- {session / name}\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no Ray logs under {session})"


def init_ray(address: str | None = None, num_cpus: int | None = None, attempts: int = RAY_START_ATTEMPTS) -> bool:
    """Connect to Ray: a new quiet local instance by default, or the cluster at `address`. True if started here.

    A local start is retried: Ray gives its raylet a fixed 30 s to register, which a loaded 2-core machine can
    miss. Each failed try's processes are killed before the next, and the last failure names the logs' tails.
    """
    import ray

    if ray.is_initialized():
        return False
    # workers inherit the environment: keep their logs and Ray Data's own bars out of the CLI's output
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **common)
        return True
    for attempt in range(1, max(1, attempts) + 1):
        before = _child_pids()
        try:
            # "local" always starts a private instance, never attaches to a `ray start` cluster by surprise
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                **common,
            )
            return True
        except Exception as exc:  # Ray raises a bare Exception when the raylet misses its start-up window
            diagnostics = _ray_start_diagnostics()
            with contextlib.suppress(Exception):
                ray.shutdown()
            for pid in _child_pids() - before:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)  # reap, so no zombie outlives the attempt
            if attempt >= attempts:
                raise RuntimeError(
                    f"local Ray did not start after {attempts} attempt(s): {exc}\n{diagnostics}"
                ) from exc
            log.warning("local Ray start %d/%d failed (%s); retrying", attempt, attempts, exc)
            time.sleep(2.0 * attempt)
    raise AssertionError("unreachable")


def quiet_ray_data() -> None:
    """Keep Ray Data's progress bars and execution banners out of the CLI's output."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray.data", "ray.data._internal.execution.streaming_executor"):
        logging.getLogger(name).setLevel(logging.WARNING)
