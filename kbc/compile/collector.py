"""The cyclic garbage collector during a compile: young objects collected in large batches, a
full pass only after 100 middle ones. A run at 10,000 sources holds millions of long-lived
objects (rows, records, the graph, the identity) and makes millions more; with the default
thresholds the collector ran some 1,650 young, 150 middle and 7 full passes over them, 3.2 s
of a +1 source's 18 s of CPU (0.5 s with these: 24 young, 1 middle, no full pass). A first
compile of 10,000 sources still gets full passes now and then, so the cycles it leaves are
freed as it goes. Garbage without cycles is freed by reference counts as ever.

Within a run, what a quiet_gc block made is frozen as the block ends (gc.freeze: kept out of
every later pass, still freed by reference counts): the first young pass after the block
walked all of it, 0.5 s after the evidence and graph and 0.15 s after the identity's load at
10,000 sources. The run's end unfreezes it, so a process that compiles again (kbc watch, the
tests) frees its cycles as before."""
from __future__ import annotations

import gc
from contextlib import contextmanager

RUN_THRESHOLDS = (50_000, 20, 100)  # young, middle, full: the Python defaults are 700, 10, 10


_runs = [0]  # run_collection blocks open: quiet_gc freezes only within one


@contextmanager
def run_collection():
    before = gc.get_threshold()
    gc.set_threshold(*RUN_THRESHOLDS)
    _runs[0] += 1
    try:
        yield
    finally:
        _runs[0] -= 1
        if not _runs[0]:
            gc.unfreeze()
        gc.set_threshold(*before)


@contextmanager
def quiet_gc():
    """Reading a table makes some 100,000 objects, none of them garbage: the cyclic collector,
    run again and again meanwhile, costs more than the reading (with pickle, four times)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _runs[0]:
            gc.freeze()
        if enabled:
            gc.enable()
