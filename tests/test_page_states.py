"""Pages' states are remembered by the file's stat, between runs too, and never for a page
changed in the last seconds or since."""
import os

from kbc.vault import page_states
from kbc.vault.pages import page_state, write_page
from tests.conftest import open_vault


def _age(path, seconds: int) -> None:
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def test_a_state_is_remembered_across_runs_until_the_file_changes(sample_vault, server):
    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Remembered.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    write_page(vault, page, {"kind": "concept"}, "# Remembered\n\nText.\n", "concept")
    assert page_state(vault, page) == "ours"
    assert str(page) not in page_states._memo(vault)  # written just now: not remembered
    _age(page, 10)
    assert page_state(vault, page) == "ours" and str(page) in page_states._memo(vault)
    page_states.save_states(vault)
    page_states._MEMO.clear()  # as a new process would start
    assert page_states.known_state(vault, page, os.stat(page)) == "ours"

    page.write_text(page.read_text().replace("Text.", "Text a person wrote."))
    _age(page, 10)  # even an old mtime: the size (or inode) differs
    assert page_state(vault, page) == "edited"


def test_a_damaged_states_file_is_no_memory(sample_vault, server):
    vault = open_vault(sample_vault, server)
    vault.state_dir.mkdir(exist_ok=True)
    (vault.state_dir / page_states.STATES_FILE).write_text("[not a dict")
    page_states._MEMO.clear()
    assert page_states._memo(vault) == {}
