"""The Ray Data embedding job on a small synthetic corpus with bad files: vectors, failures, resume after kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from embedding.job import SegmentPolicy, TrackAudio, catalog_tracks, embed_plain
from museed.catalog import load_catalog
from museed.settings import Settings
from museed.vectorset import iter_shard_track_ids, load_vector_set, read_failures
from orchestration.stages import run_embed

SETTINGS = Settings(segment_seconds=2.0, segments_per_track=2)
POLICY = SegmentPolicy(segment_seconds=2.0, n_segments=2)
BAD = {"empty", "not_audio", "truncated", "too_short"}


def _spoil(tracks: list[TrackAudio]) -> dict[int, str]:
    """Replace the audio of four tracks by the four kinds of bad file; returns track id -> expected reason."""
    paths = {kind: Path(str(t.path)) for kind, t in zip(sorted(BAD), tracks[:4], strict=True)}
    paths["empty"].write_bytes(b"")
    paths["not_audio"].write_text("this is a README, not an mp3\n" * 20)
    data = paths["truncated"].read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 10])  # header still says 4 s; ~0.4 s decodes
    sf.write(paths["too_short"], np.zeros(24_000, dtype=np.float32) + 0.1, 24_000, format="WAV")  # 1 s
    return {t.track_id: kind for kind, t in zip(sorted(BAD), tracks[:4], strict=True)}


def _corpus(root: Path, n: int, seed: int) -> tuple[Path, list[TrackAudio], dict[int, str]]:
    from synth import synthesize_corpus

    synthesize_corpus(root, tracks=n, seconds=4.0, seed=seed, workers=2)
    tracks = catalog_tracks(load_catalog(root))
    return root, tracks, _spoil(tracks)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TrackAudio], dict[int, str]]:
    """12 tracks of 4 s, four of them spoiled."""
    return _corpus(tmp_path_factory.mktemp("fma-ray"), 12, seed=5)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """One local Ray instance for the module (start-up costs ~15 s on 2 cores)."""
    import ray

    from embedding.ray_job import init_ray

    started = init_ray()
    yield
    if started:
        ray.shutdown()


_TIMEOUT = "The current node timed out during startup. This could happen because some of the raylet failed"


def test_local_ray_start_is_retried_and_the_failed_try_cleaned_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray gives the raylet a fixed 30 s; a miss on a loaded machine is retried after killing what it left."""
    import ray

    from embedding import ray_job

    calls: list[dict[str, object]] = []
    leftovers: list[subprocess.Popen[bytes]] = []

    def flaky_init(**kwargs: object) -> None:
        calls.append(kwargs)
        if len(calls) == 1:
            leftovers.append(subprocess.Popen(["sleep", "60"]))  # stands in for the half-started raylet
            raise Exception(_TIMEOUT)  # what ray.init raises, verbatim

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", flaky_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray_job.time, "sleep", lambda _s: None)
    assert ray_job.init_ray(num_cpus=2) is True
    assert len(calls) == 2 and calls[1]["address"] == "local" and calls[1]["num_cpus"] == 2
    assert not Path(f"/proc/{leftovers[0].pid}").exists(), "the failed attempt's process must be gone"


def test_local_ray_start_gives_up_with_the_logs_tail(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ray

    from embedding import ray_job

    logs = tmp_path / "ray" / "session_latest" / "logs"
    logs.mkdir(parents=True)
    (logs / "raylet.err").write_text("starting\nFailed to bind node manager port: address already in use\n")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    attempts: list[int] = []

    def failing_init(**_kwargs: object) -> None:
        attempts.append(1)
        raise Exception(_TIMEOUT)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", failing_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray_job.time, "sleep", lambda _s: None)
    with pytest.raises(RuntimeError, match="did not start after 3 attempt") as info:
        ray_job.init_ray()
    assert len(attempts) == 3
    assert "address already in use" in str(info.value) and "raylet.err" in str(info.value)


def _plain(tracks: list[TrackAudio], out: Path) -> dict[int, np.ndarray]:
    from embedding.encoders import load_encoder

    embed_plain(tracks, load_encoder("small:0", settings=SETTINGS), out, policy=POLICY)
    vs = load_vector_set(out)
    return {int(t): v for t, v in zip(vs.track_ids, vs.vectors, strict=True)}


def test_ray_job_vectors_failures_npy_and_rerun(
    corpus: tuple[Path, list[TrackAudio], dict[int, str]], ray_local: None, tmp_path: Path
) -> None:
    from embedding.ray_job import embed_ray

    _, tracks, bad = corpus
    out, npy = tmp_path / "vectors", tmp_path / "npy"
    seen: list[tuple[int, int]] = []
    report = embed_ray(
        tracks,
        "small:0",
        out,
        POLICY,
        settings=SETTINGS,
        npy_dir=npy,
        shard_tracks=3,
        progress=lambda d, t: seen.append((d, t)),
    )
    good = {t.track_id for t in tracks} - set(bad)
    assert (report.done, report.failed, report.skipped) == (len(good), len(bad), 0)
    assert seen and seen[-1] == (len(tracks), len(tracks))
    assert report.audio_seconds == pytest.approx(len(good) * 2 * 2.0)

    # every good track exactly once, L2-normalised, and the same vectors as the single-process loop
    ids = list(iter_shard_track_ids(out))
    assert sorted(ids) == sorted(good) and len(ids) == len(set(ids))
    vs = load_vector_set(out)
    np.testing.assert_allclose(np.linalg.norm(vs.vectors, axis=1), 1.0, atol=1e-5)
    plain = _plain(tracks, tmp_path / "plain")
    assert load_vector_set(tmp_path / "plain").manifest.vector_set_id == vs.manifest.vector_set_id
    for tid, vec in zip(vs.track_ids, vs.vectors, strict=True):
        np.testing.assert_allclose(vec, plain[int(tid)], atol=1e-6)

    # bad files: one failure record each, with stage and reason
    failures = {int(f["track_id"]): f for f in read_failures(out)}
    assert set(failures) == set(bad)
    reasons = {tid: failures[tid]["reason"] for tid in bad}
    assert reasons[next(t for t, k in bad.items() if k == "empty")] == "empty"
    assert reasons[next(t for t, k in bad.items() if k == "not_audio")] == "not_audio"
    assert reasons[next(t for t, k in bad.items() if k == "too_short")] == "too_short"
    assert reasons[next(t for t, k in bad.items() if k == "truncated")] in {"truncated", "too_short", "not_audio"}
    assert all(f["stage"] == "decode" and f["path"] and f["detail"] for f in failures.values())

    # --npy: one file per good track holding the pooled, L2-normalised vector
    assert sorted(int(p.stem) for p in npy.glob("*.npy")) == sorted(good)
    for tid, vec in zip(vs.track_ids, vs.vectors, strict=True):
        np.testing.assert_array_equal(np.load(npy / f"{int(tid)}.npy"), vec)

    # a re-run skips every embedded track and writes no new shard
    n_shards = len(list((out / "shards").glob("part-*.parquet")))
    again = embed_ray(tracks, "small:0", out, POLICY, settings=SETTINGS, npy_dir=npy)
    assert (again.done, again.skipped, again.failed) == (0, len(good), len(bad))
    assert len(list((out / "shards").glob("part-*.parquet"))) == n_shards


def test_two_encoders_share_one_decode_pass(
    corpus: tuple[Path, list[TrackAudio], dict[int, str]], ray_local: None, tmp_path: Path
) -> None:
    from embedding.ray_job import embed_ray

    _, tracks, bad = corpus
    report = embed_ray(tracks, "small:0", tmp_path / "a", POLICY, also=[("small:1", tmp_path / "b")], settings=SETTINGS)
    good = len(tracks) - len(bad)
    assert report.done == good and [r.done for r in report.also] == [good]
    a, b = load_vector_set(tmp_path / "a"), load_vector_set(tmp_path / "b")
    assert a.manifest.vector_set_id != b.manifest.vector_set_id
    assert sorted(a.track_ids) == sorted(b.track_ids)
    assert not np.allclose(a.vectors, b.vectors)  # two different encoders, two vector spaces
    assert {int(f["track_id"]) for f in read_failures(tmp_path / "b")} == set(bad)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def test_kill_9_mid_run_then_resume_finishes_the_same_set(
    tmp_path_factory: pytest.TempPathFactory, ray_local: None, tmp_path: Path
) -> None:
    root, tracks, bad = _corpus(tmp_path_factory.mktemp("fma-kill"), 60, seed=9)
    out = tmp_path / "vectors"
    env = {
        **os.environ,
        "MUSEED_SEGMENT_SECONDS": "2.0",
        "MUSEED_SEGMENTS_PER_TRACK": "2",
        "MUSEED_DATA_DIR": str(tmp_path / "data"),
    }
    cmd = [sys.executable, "-m", "orchestration.cli", "embed", "--fma", str(root), "--out", str(out)]
    cmd += ["--encoder", "small:0", "--engine", "ray", "--actors", "1", "--batch-size", "2", "--shard-tracks", "2"]
    log = tmp_path / "embed.log"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            family.update(_descendants(proc.pid))  # Ray's processes, to end them after the kill
            if any((out / "shards").glob("part-*.parquet")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the job ended before it could be killed: {log.read_text()}"
        assert any((out / "shards").glob("part-*.parquet")), "no shard landed in time"
        family.update(_descendants(proc.pid))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in family:  # the local Ray instance of the killed driver: ours to end, by id
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    partial = list(iter_shard_track_ids(out))
    good = {t.track_id for t in tracks} - set(bad)
    assert 0 < len(partial) < len(good), "kill -9 should have left a partial set"

    # resume (same pipeline function the CLI runs) finishes the set
    report = run_embed(root, out, SETTINGS, encoder_spec="small:0", engine="ray", shard_tracks=4)
    assert report.skipped == len(partial) and report.done == len(good) - len(partial)
    ids = list(iter_shard_track_ids(out))
    assert len(ids) == len(set(ids)), "duplicate rows in the shards after resume"
    assert set(ids) == good
    for shard in (out / "shards").glob("part-*.parquet"):
        assert pq.read_table(shard).num_rows > 0

    # the same vectors as an uninterrupted run, and the bad files in the failures manifest with reasons
    vs = load_vector_set(out)
    plain = _plain(tracks, tmp_path / "plain")
    for tid, vec in zip(vs.track_ids, vs.vectors, strict=True):
        np.testing.assert_allclose(vec, plain[int(tid)], atol=1e-6)
    failures = {int(f["track_id"]): f for f in read_failures(out)}
    assert set(failures) == set(bad)
    assert all(f["reason"] in BAD | {"not_audio"} and f["stage"] == "decode" for f in failures.values())
