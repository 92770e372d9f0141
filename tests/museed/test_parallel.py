"""The shared worker-process helpers: same results, same order, serially or in a pool, forked or not."""

from __future__ import annotations

import math
import threading

from museed.parallel import map_in_processes, pool_context


def test_map_in_processes_keeps_order_serially_and_in_a_pool() -> None:
    items = list(range(23))
    expected = [math.factorial(i) % 97 for i in items]
    for workers in (1, 2, 8):
        assert [r % 97 for r in map_in_processes(math.factorial, items, workers)] == expected
    assert list(map_in_processes(math.factorial, [], 2)) == []


def test_a_threaded_process_gets_forkserver_workers() -> None:
    # only the main thread (unless an earlier test left threads running): forking is safe and cheap
    alone = threading.active_count() == 1
    assert pool_context().get_start_method() == ("fork" if alone else "forkserver")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert pool_context(["math"]).get_start_method() == "forkserver"
        assert sorted(map_in_processes(abs, [-3, -1, -2], 2, preload=["math"])) == [1, 2, 3]
    finally:
        stop.set()
        other.join()
