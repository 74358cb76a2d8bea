"""The page index: each page's state, properties, links and backlinks remembered by the file's
stat, between runs too, never for a page changed in the last seconds or since."""
import os

from kbc.vault import page_index
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.pages import page_state, write_page
from tests.conftest import open_vault


def _age(path, seconds: int) -> None:
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def test_a_record_is_remembered_across_runs_until_the_file_changes(sample_vault, server):
    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Remembered.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    write_page(vault, page, {"kind": "concept", "aliases": ["Kept"]}, "# Remembered\n\nSee [[Other|it]].\n", "concept")
    assert page_state(vault, page) == "ours"
    assert str(page) not in page_index._memo(vault)  # written just now: not remembered
    _age(page, 10)
    assert page_state(vault, page) == "ours" and str(page) in page_index._memo(vault)
    page_index.save_index(vault)
    page_index._MEMO.clear()  # as a new process would start
    record = page_index._known(vault, str(page), os.stat(page))
    assert record.state == "ours" and record.props["aliases"] == ["Kept"] and record.links == ("[[Other|it]]",)

    page.write_text(page.read_text().replace("See", "A person wrote: see"))
    _age(page, 10)  # even an old mtime: the size (or inode) differs
    assert page_state(vault, page) == "edited"


def test_a_damaged_index_file_is_no_memory(sample_vault, server):
    vault = open_vault(sample_vault, server)
    vault.state_dir.mkdir(exist_ok=True)
    (vault.state_dir / page_index.INDEX_FILE).write_text("[not a dict")
    page_index._MEMO.clear()
    assert page_index._memo(vault) == {}


def test_refresh_from_the_index_sees_a_link_added_to_a_remembered_page(sample_vault, server):
    """A page remembered by the index, then edited by a person: its new link still counts as a
    backlink of its target (the edit changes the file's stat, so the page is read again)."""
    vault = open_vault(sample_vault, server)
    concepts = vault.wiki_dir / "concepts"
    concepts.mkdir(parents=True, exist_ok=True)
    target, other = concepts / "Target Idea.md", concepts / "Other Idea.md"
    write_page(vault, target, {"kind": "concept"}, "# Target Idea\n\nText.\n", "concept")
    write_page(vault, other, {"kind": "concept"}, "# Other Idea\n\nNo link yet.\n", "concept")
    for path in (target, other):
        _age(path, 10)
    refresh_wiki(vault)
    assert "[[Other Idea]]" not in target.read_text()
    _age(target, 10)
    page_index._MEMO.clear()  # a new run: the index comes from the file the last one saved
    other.write_text(other.read_text().replace("No link yet.", "Now see [[Target Idea]]."))
    _age(other, 10)
    refresh_wiki(vault)
    assert "- [[Other Idea]]" in target.read_text()


def test_a_broken_page_stays_unreadable_when_remembered(sample_vault, server):
    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Broken.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("---\ntitle: [unclosed\n---\n# Broken\n")
    _age(page, 10)
    assert page_index.page_record(vault, page).readable is False
    assert str(page) in page_index._memo(vault)
    record, _ = page_index.read_with_body(vault, page)
    assert record.readable is False and record.state == "edited"
