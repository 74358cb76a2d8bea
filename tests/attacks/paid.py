"""Nothing paid twice: kill -9 and Ctrl-C mid-run, then a rerun; two writers at once; readers
while a compile writes."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

from tests.attacks import (Lab, answered, attack, last_request_id, one_error, paid_since, requests_of,
                           wait_for)

EXTRACT, WRITE = "source_extraction", "concept_articles"


def _more_notes(root, count: int = 6) -> None:
    topics = ["Paxos", "Raft", "Quorum", "Leases", "Chubby", "Zookeeper", "Gossip", "Vector Clocks"]
    for n in range(count):
        a, b = topics[n % len(topics)], topics[(n + 3) % len(topics)]
        (root / "raw" / f"Extra {n}.md").write_text(
            f"# Extra {n}\n\n{a} Systems relate to {b} Designs in note {n}.\n"
            f"Another line says {a} Protocols need Majority Votes.\n")


def _kill_then_rerun(lab: Lab, schema: str, after: int, name: str) -> None:
    root = lab.vault(name)
    _more_notes(root)
    lab.server.delays[schema] = 0.6
    process = lab.popen(root, "compile")
    wait_for(lambda: len(requests_of(lab.server, schema)) > after, timeout=90)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    lab.server.delays.clear()
    stray = root / "wiki" / ".kbc-left-by-kill.tmp"  # what a write cut by kill -9 leaves
    stray.write_text("half a page")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    paid = answered(root)
    mark = last_request_id(root)
    done = lab.kbc(root, "compile")
    assert done.returncode == 0, done.stderr
    twice = paid_since(root, paid, mark)
    assert not twice, f"{len(twice)} requests answered before kill -9 were paid again"
    assert not stray.exists(), "a killed writer's temp file was left behind"
    again = lab.kbc(root, "compile")
    assert "in 0 requests" in again.stdout, again.stdout


@attack("kill -9 during writes, then a rerun")
def kill_during_writes(lab: Lab) -> None:
    _kill_then_rerun(lab, WRITE, 0, "vault")


@attack("kill -9 during extractions, then a rerun")
def kill_during_extractions(lab: Lab) -> None:
    _kill_then_rerun(lab, EXTRACT, 2, "vault")


@attack("kill -9 after 1, 2, 4, 7 and 11 answers, each followed by a rerun")
def kill_anywhere(lab: Lab) -> None:
    root = lab.vault()
    _more_notes(root, 8)
    lab.kbc(root, "stats")  # the database exists before the first kill
    for schema in (EXTRACT, WRITE):
        lab.server.delays[schema] = 0.25
    for answers in (1, 2, 4, 7, 11):
        process = lab.popen(root, "compile")
        start = last_request_id(root)
        wait_for(lambda: last_request_id(root) >= start + answers or process.poll() is not None, timeout=90)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        paid, mark = answered(root), last_request_id(root)
        lab.server.delays.clear()
        done = lab.kbc(root, "compile")
        assert done.returncode == 0, done.stderr
        twice = paid_since(root, paid, mark)
        assert not twice, f"after {answers} answers: {len(twice)} requests paid again"
        lab.server.delays.update({EXTRACT: 0.25, WRITE: 0.25})
        for note in (root / "raw").glob("Extra *.md"):  # new work for the next round
            note.write_text(note.read_text() + f"\nRound {answers} adds Epoch Numbers to {note.stem}.\n")
    assert not [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".md") and not p.read_text().strip()]


@attack("Ctrl-C with slow answers: no request after SIGINT, a quick exit, a free rerun")
def sigint(lab: Lab) -> None:
    root = lab.vault()
    _more_notes(root, 8)
    (root / "kbc.toml").write_text("[llm]\nconcurrency = 4\n")
    lab.server.delays[EXTRACT] = 2.0
    process = lab.popen(root, "compile")
    wait_for(lambda: len(requests_of(lab.server, EXTRACT)) >= 3, timeout=90)
    time.sleep(0.3)
    sent = len(lab.server.requests)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = lab.finish(process, timeout=30)
    took = time.monotonic() - started
    assert process.returncode == 130 and "interrupted" in err, err
    assert took < 5, f"exited {took:.1f} s after Ctrl-C"
    late = len(lab.server.requests) - sent
    assert late == 0, f"{late} requests sent after Ctrl-C"
    lab.server.delays.clear()
    paid = answered(root)
    mark = last_request_id(root)
    assert lab.kbc(root, "compile").returncode == 0
    assert not paid_since(root, paid, mark), "answers kept at Ctrl-C were paid again"


@attack("two kbc compile at once: the second gets one line; a stale lock is taken over")
def two_writers(lab: Lab) -> None:
    root = lab.vault()
    lab.server.delays[WRITE] = 1.5
    first = lab.popen(root, "compile")
    wait_for(lambda: (root / ".kbc" / "lock").exists() and (root / ".kbc" / "lock").read_text().strip())
    holder = json.loads((root / ".kbc" / "lock").read_text())
    assert holder["pid"] == first.pid and holder["command"] == "kbc compile"
    for command in (("compile",), ("ingest", str(root.parent)), ("lint", "--fix")):
        second = lab.kbc(root, *command)
        assert second.returncode == 1, second.stdout
        one_error(second.stderr, "busy", str(first.pid), "kbc compile")
    reader = lab.kbc(root, "search", "Paxos")
    assert reader.returncode == 0, reader.stderr
    _, err = lab.finish(first, timeout=120)
    assert first.returncode == 0, err
    requests = len(lab.server.requests)
    lab.server.delays.clear()
    # A lock file naming a dead process: taken over, said so.
    (root / ".kbc" / "lock").write_text(json.dumps({"pid": 999_999, "command": "kbc compile",
                                                    "since": "2026-01-01T00:00:00"}))
    done = lab.kbc(root, "compile")
    assert done.returncode == 0 and "no longer running" in done.stderr, done.stderr
    assert len(lab.server.requests) == requests, "the second compile paid again"


@attack("readers while a compile writes: serve and search, no errors")
def readers_during_compile(lab: Lab) -> None:
    from tests.attacks.web import served

    root = lab.vault()
    assert lab.kbc(root, "compile").returncode == 0
    _more_notes(root, 8)
    lab.server.delays[WRITE] = 0.3
    failures: list[str] = []
    stop = threading.Event()
    with served(root, lab) as (base, _):
        def hammer():
            paths = ["/", "/page/index", "/page/Paxos", "/api/search?q=paxos", "/stats", "/page/Index%20of%20concepts"]
            n = 0
            while not stop.is_set():
                path = paths[n % len(paths)]
                n += 1
                try:
                    with urllib.request.urlopen(base + path, timeout=20) as response:
                        response.read()
                except urllib.error.HTTPError as exc:
                    if exc.code >= 500:
                        failures.append(f"{path}: {exc.code}")
                except OSError as exc:
                    failures.append(f"{path}: {exc}")

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        writer = lab.popen(root, "compile")
        searches = 0
        while writer.poll() is None:
            done = lab.kbc(root, "search", "Paxos")
            assert done.returncode == 0, done.stderr
            searches += 1
        stop.set()
        for thread in threads:
            thread.join(30)
        _, err = lab.finish(writer)
        assert writer.returncode == 0, err
    assert not failures, failures[:5]
    assert searches >= 1
