"""+1 source on a kept vault: kbc's CPU for adding one note at a time to a settled wiki.

scale.py builds its vaults in a temporary folder and measures one +1 straight after the first
compile (which still settles backlinks and stats). This keeps the vault, so one 10,000-note
build (~10 minutes) serves many measurements: copy it (`cp -a`), then add notes to the copy.

  .venv/bin/python benchmarks/plus_one.py /tmp/v10k --build 10000      # once: notes 0..9,999, compiled
  cp -a /tmp/v10k /tmp/v10k_a
  .venv/bin/python benchmarks/plus_one.py /tmp/v10k_a --first 10000 --adds 3 [--profile /tmp/prof]
  [--stages /tmp/stages.txt]   # CPU by stage, without cProfile's overhead (benchmarks/stage_cpu)

Measure on an idle machine: with another benchmark on the second of two cores, the same +1
took about 1.8x the CPU (21.9 s median against 12.0 s idle at dd94ca6), and cProfile adds as
much again. At dd94ca6, idle: +1 at 10,000 is 9.9-12.3 s CPU; by stage (one +1 of 10.4 s):
writing concepts 3.4 (evidence and graph 2.3 of it: the graph 0.9, mentions' material 0.7,
mention lists 0.4, relations 0.2; input hashes 0.6), consolidation 1.6 (two syncs 1.0: the
identity pickle's load and save 0.5), refresh_wiki 1.6, extraction 1.3 (the catalogue 0.5,
the openai client's import), reading raw/ 0.4, the run stamp 0.6, the search index 0.35.
At 94f3227 (materials by digest), same copies, same machine: 12.9, 10.2, 10.8 s against
14.0, 12.8, 16.4 before; mention lists 0.3 (was 0.6-0.7), input hashes 0.06 (0.4), graph
nodes 0.01 (0.5). The machine's speed drifts by a third within an hour: compare runs made
side by side, never figures from different hours.

The first +1 after --build pays once for the page vocabulary (the build's vocabulary was made
before the summaries existed: 10,000 names added, the file written whole), so measure on a
vault that has had one +1; and the first compile after a database migration that empties a
cache (m022 did: every material's mention list and words again) is a settle of ~2 minutes.
At febc812 (collector freezes bulk reads, no stat per summary page), one +1 at a time, old and
new alternated on copies of one vault: 320470d 13.4, 13.3, 11.5, 13.0 s; new 12.4, 11.8, 11.2,
10.6 s; the collector's own time in a +1 0.98 -> 0.10 s (a gc.callbacks timer: steadier than any
whole-run figure on this machine).

Per run it prints the wall and CPU of kbc's process (the scripted server runs in this one). The
first compile after a copy re-stats every page and is printed as "settle". Notes are scale.py's:
note i is the same text in any vault, so two copies given the same --first compare like for like.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scale import Meter, paragraphs, write_notes  # noqa: E402
from tests.scripted import ScriptedServer  # noqa: E402


def build(root: Path, count: int, pool, server, window: int) -> None:
    subprocess.run([sys.executable, "-m", "kbc", "init", str(root)], cwd=REPO, check=True, capture_output=True)
    config = root / "kbc.toml"
    config.write_text(re.sub(r"(?m)^context_window = 0$", f"context_window = {window}", config.read_text()))
    write_notes(root / "raw", pool, 0, count)
    for label in ("first compile", "settle"):
        done = Meter().run(root, server, "compile")
        print(f"{label}: {done['wall']:.1f} s wall, {done['cpu']:.1f} s CPU "
              f"({done['cpu'] / count * 1000:.1f} ms per source), peak {done['peak_mb']:.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("vault", type=Path)
    parser.add_argument("--build", type=int, help="make the vault: this many notes, compiled")
    parser.add_argument("--first", type=int, help="number of the first note to add (default: the build's size)")
    parser.add_argument("--adds", type=int, default=0, help="notes to add, one compile each")
    parser.add_argument("--profile", type=Path, help="cProfile each +1 into this folder")
    parser.add_argument("--window", type=int, default=32768)
    parser.add_argument("--stages", type=Path, help="append each compile's CPU by stage to this file "
                        "(benchmarks/stage_cpu: no profiler's overhead)")
    args = parser.parse_args()
    if args.stages:  # the children inherit it (scale.kbc passes the environment on)
        os.environ["STAGE_CPU_OUT"] = str(args.stages.resolve())
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "benchmarks" / "stage_cpu"),
                                                                 os.environ.get("PYTHONPATH")]))
    root, pool = args.vault.resolve(), paragraphs()
    with ScriptedServer() as server:
        if args.build:
            build(root, args.build, pool, server, args.window)
        elif not (root / "kbc.toml").exists():
            raise SystemExit(f"{root}: no vault (make one with --build N)")
        if not args.adds:
            return
        first = args.first if args.first is not None else args.build
        if first is None:
            raise SystemExit("--first N: the number of the first note to add")
        if not args.build:  # a copied vault: its first compile re-stats every page
            settle = Meter().run(root, server, "compile")
            print(f"settle: {settle['wall']:.1f} s wall, {settle['cpu']:.1f} s CPU", flush=True)
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
        cpu = []
        for number in range(first, first + args.adds):
            write_notes(root / "raw", pool, number, 1)
            profile = args.profile / f"plus{number}.prof" if args.profile else None
            done = Meter().run(root, server, "compile", profile=profile)
            cpu.append(done["cpu"])
            print(f"+1 (note {number}): {done['wall']:.1f} s wall, {done['cpu']:.1f} s CPU", flush=True)
        print(f"+1 median {statistics.median(cpu):.1f} s CPU over {len(cpu)}")


if __name__ == "__main__":
    main()
