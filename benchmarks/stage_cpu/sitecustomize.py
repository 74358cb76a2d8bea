"""Per-stage CPU of one `kbc compile`, for benchmarks/plus_one.py --stages (not shipped).

Python imports this at start-up when this folder is on PYTHONPATH. It wraps the compile's
stages (and the calls inside them worth watching) with a process-time counter and, at exit,
appends "total" and each stage's seconds to the file STAGE_CPU_OUT names. Unlike cProfile,
which nearly doubled a +1's CPU at 10,000 sources and inflates call-heavy stages the most,
it costs nothing measurable. A stage that calls another counts that one's time too."""
from __future__ import annotations

import atexit
import importlib
import os
import sys
import time

STAGES = [
    ("kbc.compile", "Compiler", ["_extract", "_catalogue", "_jobs", "_write_concepts", "_write_summaries",
                                 "_write_related", "_finish"]),
    ("kbc.compile", None, ["compile_vault", "scan_sources", "stale_pages", "refresh_wiki"]),
    ("kbc.compile.sync", "Consolidator", ["run", "sync", "relations"]),
    ("kbc.compile.mention_cache", "MentionCache", ["material"]),
    ("kbc.compile.graph_cache", "MentionGraphCache", ["mention_lists"]),
    ("kbc.compile.graph_store", "GraphStore", ["graph"]),
    ("kbc.compile.graph_store", "_Nodes", ["node"]),
    ("kbc.compile.graph_store", None, ["link_orphans"]),
    ("kbc.compile.input_hashes", "InputHashes", ["of", "save"]),
    ("kbc.compile.identity_state", "Tracker", ["identity", "save", "_load"]),
    ("kbc.compile.claim_judging", "ClaimQuestions", ["prepare"]),
    ("kbc.compile.consolidate", None, ["candidate_pairs"]),
    ("kbc.compile.manifest", "Manifest", ["claims", "members", "concepts", "relating", "sources"]),
    ("kbc.compile.run_stamp", "RunStamp", ["replay", "record"]),
    ("kbc.compile.writer", "ConceptWriter", ["write"]),
    ("kbc.vault.bookkeeping", None, ["write_indexes", "page_snaps", "set_backlinks"]),
    ("kbc.search", None, ["refresh_index"]),
]
_spent: dict[str, float] = {}


def _counted(function, name: str):
    def counted(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            _spent[name] = _spent.get(name, 0.0) + time.process_time() - started
    return counted


def _install() -> None:
    for module, owner, names in STAGES:
        target = importlib.import_module(module)
        target = getattr(target, owner) if owner else target
        for name in names:
            setattr(target, name, _counted(getattr(target, name), f"{owner or module}.{name}"))


def _report() -> None:
    lines = [f"total {time.process_time():.2f}"] + [f"  {name}: {seconds:.2f}" for name, seconds in
                                                   sorted(_spent.items(), key=lambda item: -item[1])]
    with open(os.environ["STAGE_CPU_OUT"], "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n\n")


if os.environ.get("STAGE_CPU_OUT") and "compile" in sys.argv:
    _install()
    atexit.register(_report)
