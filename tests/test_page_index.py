"""The page index: each page's state, properties, links and backlinks remembered by the file's
stat, between runs too (a page changed in the last seconds by its content's hash), and never
once the page has changed."""
import os

from kbc.vault import page_index
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.pages import page_state, write_page
from tests.conftest import open_vault


def _age(path, seconds: int) -> None:
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def _row(vault, page):
    return vault.db.conn.execute("select ino, mtime_ns, size, hash, state from page_index where path = ?",
                                 [vault.rel(page)]).fetchone()


def test_a_record_is_remembered_across_runs_until_the_file_changes(sample_vault, server):
    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Remembered.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    write_page(vault, page, {"kind": "concept", "aliases": ["Kept"]}, "# Remembered\n\nSee [[Other|it]].\n", "concept")
    assert page_state(vault, page) == "ours"
    page_index.save_index(vault)
    assert _row(vault, page)[3]  # written just now: remembered with its content's hash, not by stat alone
    _age(page, 10)
    page_index.forget()  # as a new process would start: the rows come from the table
    record = page_index.page_record(vault, page)  # the hash still matches: trusted, and settled now
    assert record.state == "ours" and record.props["aliases"] == ["Kept"] and record.links == ("[[Other|it]]",)
    page_index.save_index(vault)
    assert _row(vault, page)[3] == "" and _row(vault, page)[4] == "ours"

    page.write_text(page.read_text().replace("See", "A person wrote: see"))
    _age(page, 10)  # even an old mtime: the size (or inode) differs
    assert page_state(vault, page) == "edited"


def test_an_edit_within_the_clock_tick_is_seen(sample_vault, server):
    """A person's edit that keeps the page's size, inode and mtime (the same clock tick as
    kbc's write): the index holds the page by its content's hash, so the edit is seen."""
    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Racy.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    write_page(vault, page, {"kind": "concept"}, "# Racy\n\nSee [[Other]].\n", "concept")
    assert page_state(vault, page) == "ours"
    stat = os.stat(page)
    with open(page, "r+", encoding="utf-8") as handle:  # in place: same inode, same size
        text = handle.read()
        handle.seek(0)
        handle.write(text.replace("See [[Other]]", "Saw [[Other]]"))
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(page).st_size == stat.st_size and os.stat(page).st_ino == stat.st_ino
    assert page_state(vault, page) == "edited"
    page_index.save_index(vault)
    page_index.forget()
    assert page_index.page_record(vault, page).state == "edited"


def test_a_page_gone_is_forgotten_and_the_old_index_file_removed(sample_vault, server):
    vault = open_vault(sample_vault, server)
    concepts = vault.wiki_dir / "concepts"
    concepts.mkdir(parents=True, exist_ok=True)
    kept, gone = concepts / "Kept.md", concepts / "Gone.md"
    for page in (kept, gone):
        write_page(vault, page, {"kind": "concept"}, f"# {page.stem}\n", "concept")
    (vault.state_dir / "page_index.json").write_text("{}")
    page_index.save_index(vault)
    assert _row(vault, gone) is not None
    gone.unlink()
    page_index.save_index(vault, [kept])
    assert _row(vault, gone) is None and _row(vault, kept) is not None
    assert not (vault.state_dir / "page_index.json").exists()


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
    page_index.forget()  # a new run: the index comes from the rows the last one saved
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
    page_index.save_index(vault)
    page_index.forget()
    assert _row(vault, page)[4] == "edited"
    assert page_index.page_record(vault, page).readable is False
    record, _ = page_index.read_with_body(vault, page)
    assert record.readable is False and record.state == "edited"


def test_backlinks_sections_are_found_as_the_regexes_found_them():
    """own_body and the record's backlinks find sections with str.find: the same as re.sub of
    START.*?END\\n? and re.search of START(.*?)END (re.S) on any mix of markers."""
    import random
    import re
    from kbc.vault.page_index import _section
    from kbc.vault.page_text import BACKLINKS_END as END, BACKLINKS_START as START, own_body
    whole = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.S)
    inner = re.compile(re.escape(START) + r"(.*?)" + re.escape(END), re.S)
    rng = random.Random(4)
    parts = [START, END, "\n", "a", " [[x]]", "\n\n", START + "\n## Backlinks\n", "<!-- kbc:", "-->"]
    for _ in range(20000):
        text = "".join(rng.choice(parts) for _ in range(rng.randrange(0, 10)))
        found = inner.search(text)
        assert own_body(text) == whole.sub("", text).rstrip() + "\n"
        assert _section(text) == (found[1] if found else None)


def test_a_written_page_is_remembered_as_a_reader_parses_it(sample_vault, server):
    """write_page and set_backlinks hand the index what they rendered instead of parsing it
    again: the record must be what parsing the file gives (dates, tags, key order, body)."""
    from kbc.vault.frontmatter import split
    from kbc.vault.pages import set_backlinks

    vault = open_vault(sample_vault, server)
    page = vault.wiki_dir / "concepts" / "Parsed.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    props = {"kind": "concept", "title": "Parsed", "tags": "one", "created": "2026-12-02",
             "aliases": ["P", "123"], "sources": ["[[A (source)]]"]}
    write_page(vault, page, props, "\n\n# Parsed\n\nSee [[Other]].\n", "concept")
    set_backlinks(vault, page, ["Other", "Third"])
    for _ in range(2):  # as remembered by the writes, then as a fresh process parses the file
        record = page_index.page_record(vault, page)
        read_props, read_body = split(page.read_text(encoding="utf-8"))
        assert list(record.props.items()) == list(read_props.items())
        assert record == page_index.record_of(read_props, read_body)
        assert record.state == "ours" and record.backlinks == ("Other", "Third")
        page_index.save_index(vault)
        page_index.forget()
        _age(page, 10)
