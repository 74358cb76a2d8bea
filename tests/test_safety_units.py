"""Small guarantees behind the battery (tests/attacks/): page hashes old and new, exclusive
note creation, secret redaction, the vault lock seen from another process."""
import subprocess
import sys

from kbc.errors import redact
from kbc.vault import Vault
from kbc.vault.files import exclusive_write
from kbc.vault.frontmatter import split
from kbc.vault.lock import VaultBusy, VaultLock, writer_elsewhere
from kbc.vault.pages import body_hash, state_of, write_page


def test_page_hash_covers_properties_and_old_pages_stay_ours(vault_dir):
    vault = Vault(vault_dir, env={})
    page = vault_dir / "wiki" / "concepts" / "Paxos.md"
    assert write_page(vault, page, {"title": "Paxos", "tags": ["concept"]}, "# Paxos\n\nBody.\n", "concept")
    props, body = split(page.read_text())
    assert state_of(props, body) == "ours"
    assert state_of({**props, "tags": "concept"}, body) == "ours"  # the same tag, as a scalar
    assert state_of({**props, "tags": ["concept", "mine"]}, body) == "edited"
    legacy = {"title": "Paxos", "kbc_hash": body_hash(body)}  # written before properties were hashed
    assert state_of(legacy, body) == "ours" and state_of(legacy, body + "more\n") == "edited"


def test_write_page_keeps_an_edit_made_meanwhile(vault_dir):
    vault = Vault(vault_dir, env={})
    page = vault_dir / "wiki" / "concepts" / "Raft.md"
    write_page(vault, page, {"title": "Raft"}, "# Raft\n\nOne.\n", "concept")
    edited = page.read_text().replace("One.", "One, and my own words.")
    page.write_text(edited)
    assert not write_page(vault, page, {"title": "Raft"}, "# Raft\n\nTwo.\n", "concept")
    assert page.read_text() == edited
    proposal = vault_dir / "wiki" / "proposals" / "Raft (proposed).md"
    assert "Two." in proposal.read_text() and "proposals/Raft (proposed).md" in vault.notices[0]
    page.write_text("---\nkbc: manual\n---\n\n# Raft\n\nMine.\n")
    assert not write_page(vault, page, {"title": "Raft"}, "# Raft\n\nThree.\n", "concept")
    assert page.read_text().endswith("Mine.\n") and "Three." not in proposal.read_text()


def test_exclusive_write_never_replaces(tmp_path):
    target = tmp_path / "Note.md"
    assert exclusive_write(target, "first")
    assert not exclusive_write(target, "second")
    assert target.read_text() == "first" and not list(tmp_path.glob(".kbc-*"))


def test_redact_removes_keys_and_key_shapes():
    line = redact("HTTP 401: Bearer sk-abc123def456ghi789 rejected; api_key=hunter22 at "
                  "http://user:pw@host/v1 key-ABCDEFGHIJKL", secrets=["hunter22"])
    assert "sk-abc" not in line and "hunter22" not in line and "pw@" not in line
    assert "ABCDEFGHIJKL" not in line and line.count("[redacted]") >= 4


def test_the_lock_is_seen_from_another_process_and_dropped_at_exit(vault_dir):
    state = vault_dir / ".kbc"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from kbc.vault.lock import VaultLock\n"
        f"VaultLock({str(state)!r}, 'kbc compile').acquire(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert writer_elsewhere(state)
        try:
            VaultLock(state, "kbc ingest").acquire()
            raise AssertionError("a second writer got the lock")
        except VaultBusy as busy:
            assert f"pid {holder.pid}" in str(busy) and "`kbc compile`" in str(busy)
    finally:
        holder.kill()
        holder.wait()
    assert not writer_elsewhere(state)  # kill -9 drops it: nothing stale to clean by hand
    with VaultLock(state, "kbc compile") as mine:
        assert mine.took_stale is not None and mine.took_stale.pid == holder.pid
        assert not writer_elsewhere(state)  # our own lock is not "elsewhere"
