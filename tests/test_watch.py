"""`kbc watch` as a real process against the scripted server: a note dropped into raw/ is
compiled within seconds, a failed compile is retried, Ctrl-C stops it; --once for cron."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import REPO, endpoint_env


def kbc(*args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "kbc", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def watch_env(server, vault_dir):
    return {**os.environ, **endpoint_env(server), "KBC_VAULT": str(vault_dir)}


def test_watch_compiles_a_dropped_note_survives_a_failure_and_stops_on_ctrl_c(vault_dir, server, tmp_path):
    drop = tmp_path / "clippings"
    drop.mkdir()
    server.script.append({"status": 401, "message": "key rejected"})  # the first compile fails
    process = kbc("watch", "--drop", str(drop), "--interval", "0.1", "--debounce", "0.3", "--retry", "0.5",
                  env=watch_env(server, vault_dir))
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        note = next(REPO.glob("raw/*.md"))
        (vault_dir / "raw" / note.name).write_text(note.read_text())
        sources = vault_dir / "wiki" / "sources"
        started = time.monotonic()
        assert wait_for(lambda: sources.is_dir() and list(sources.glob("*.md")))
        first_page = time.monotonic() - started
        (drop / "clip.md").write_text("# Gossip protocols\n\nGossip spreads updates between Cassandra "
                                      "nodes. Each Cassandra node talks to a few peers every second.\n")
        assert wait_for(lambda: any("1 dropped files ingested, compile ok" in line for line in lines)), lines
        assert len(list(sources.glob("*.md"))) == 2
        assert first_page < 30  # two compiles (one failing) on a shared, loaded machine
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=10)
    out = "".join(lines)
    assert process.returncode == 0, out
    lines = out.splitlines()
    assert "watching" in lines[0]
    assert any("compile failed (exit 3)" in line for line in lines), out
    assert any("next try in 0.5 s" in line for line in lines)
    assert any("1 dropped files ingested, compile ok" in line for line in lines), out
    assert lines[-1].endswith("cycles") and "stopped after" in lines[-1]
    assert (drop / "clip.md").exists()  # read, never moved


def test_watch_once_for_cron(vault_dir, server, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "note.md").write_text("# Raft\n\nRaft elects a Leader. The Leader replicates the log.\n")
    run = kbc("watch", "--once", "--drop", str(drop), env=watch_env(server, vault_dir), cwd=tmp_path)
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 0, out
    assert "cycle 1: 1 dropped files ingested, compile ok" in out and "sources: 1 new" in out
    assert len(list((vault_dir / "wiki" / "sources").glob("*.md"))) == 1
    again = kbc("watch", "--once", "--drop", str(drop), env=watch_env(server, vault_dir))
    out, _ = again.communicate(timeout=60)
    assert again.returncode == 0 and "0 new, 0 changed, 0 removed, 1 unchanged" in out, out
