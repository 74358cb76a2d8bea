"""`kbc ingest` progress: a bar with items done and time left on a terminal, nothing in a log."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from kbc.vault import init_vault

KBC = [sys.executable, "-m", "kbc"]


def make_notes(folder, count=3):
    folder.mkdir()
    for i in range(count):
        (folder / f"note {i}.md").write_text(f"# Note {i}\n\nSome text {i}.\n")
    return folder


def test_a_terminal_gets_a_bar_with_counts_and_time_left(tmp_path):
    init_vault(tmp_path / "vault")
    notes = make_notes(tmp_path / "notes")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns
    done = subprocess.run([*KBC, "--vault", str(tmp_path / "vault"), "ingest", str(notes)],
                          stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, timeout=60)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    text = output.decode()
    assert done.returncode == 0, text
    assert "3/3 sources" in text and "<00:00" in text  # items done of the total, time left
    assert text.count("created") == 3  # every result line printed whole above the bar


def test_a_log_gets_result_lines_only(tmp_path):
    init_vault(tmp_path / "vault")
    notes = make_notes(tmp_path / "notes")
    done = subprocess.run([*KBC, "--vault", str(tmp_path / "vault"), "ingest", str(notes)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "\r" not in done.stdout
    assert done.stdout.count("created") == 3 and len(done.stdout.splitlines()) == 3
