"""Library-scale CPU work in worker processes: one start-method policy and one serial-or-pool map."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def pool_context(preload: Sequence[str] = ()) -> BaseContext:
    """`fork` when this process runs no other threads (cheap, no re-import of __main__), else `forkserver`
    (forking a threaded process can deadlock), whose server imports `preload` once for every worker."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    if preload:
        ctx.set_forkserver_preload(list(preload))
    return ctx


def map_in_processes(
    fn: Callable[[T], R], items: Sequence[T], workers: int, preload: Sequence[str] = ()
) -> Iterator[R]:
    """`fn` over `items` in order: in this process for one worker (or one item), else in a process pool of up
    to `workers` (`fn` must be a picklable module-level function)."""
    n_workers = max(1, min(workers, len(items)))
    if n_workers == 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(n_workers, mp_context=pool_context(preload)) as pool:
        yield from pool.map(fn, items, chunksize=4)
