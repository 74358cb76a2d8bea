"""The vault's page names as grounding reads them, kept between runs and counted only where the
names changed: the same vocabulary, and so the same grounding verdicts, as counting them all."""
import json
import os

from kbc.compile import grounding
from kbc.compile.grounding import NameVocabulary, ungrounded
from kbc.compile.page_vocabulary import REWRITE_AFTER, VOCABULARY_FILE, page_vocabulary
from kbc.vault import Vault, init_vault
from kbc.vault.files import walk_files, walk_stems
from kbc.vault.linkcheck import LinkResolver

NAMES = ["Raft (consensus)", "RAFT Protocol", "It's Bob's 9,760 Kbps", "Straße der Einheit", "ML vs AI",
         "Don’t Panic", "TCP/IP over SCTP", "2024 Q3 results", "Write Ahead Log", "Paxos Made Simple (source)",
         "Leader Election", "leader election", "Log-Structured Merge Tree"]
FIELDS = ("keys", "words", "stems", "prefixes", "acronyms", "initials")


def reference(names: list[str]) -> dict:
    """Each name's vocabulary worked out alone and joined: what a count of features must equal."""
    words, stems, prefixes, acronyms = grounding._texts_vocabulary(names)
    return {"keys": {grounding._key(n) for n in names}, "words": words, "stems": stems, "prefixes": prefixes,
            "acronyms": acronyms, "initials": grounding._texts_initials(names)}


def fields(vocabulary: NameVocabulary) -> dict:
    return {name: set(getattr(vocabulary, name)) for name in FIELDS}


def test_counted_vocabulary_is_the_union_of_each_names():
    assert fields(NameVocabulary.of(NAMES)) == reference(NAMES)
    assert "9760" in NameVocabulary.of(NAMES).words and "SCTP" in NameVocabulary.of(NAMES).acronyms


def test_kept_vocabulary_follows_names_added_and_removed(tmp_path):
    init_vault(tmp_path)
    vault = Vault(tmp_path)
    path = vault.state_dir / VOCABULARY_FILE
    first = page_vocabulary(vault, NAMES)
    assert fields(first) == reference(NAMES)
    stored = path.read_text()
    assert fields(page_vocabulary(vault, list(reversed(NAMES)))) == reference(NAMES)
    assert path.read_text() == stored  # the same names: nothing written
    # "RAFT Protocol" goes (its acronym RAFT and the word "protocol" with it), "Raft (consensus)" keeps "raft"
    changed = [n for n in NAMES if n not in ("RAFT Protocol", "ML vs AI")] + ["Gossip Protocol", "BFT (source)"]
    kept = page_vocabulary(vault, changed)
    assert fields(kept) == reference(changed)
    assert "RAFT" not in kept.acronyms and "raft" in kept.words and "protocol" in kept.words
    assert "ML" not in kept.acronyms and "BFT" in kept.acronyms
    assert path.read_text().startswith(stored) and len(path.read_text().splitlines()) == 2  # one line appended
    again = [*changed, "Vector Clock"]
    assert fields(page_vocabulary(vault, again)) == reference(again)  # read from the first line and both after
    assert fields(page_vocabulary(vault, again)) == reference(again) and len(path.read_text().splitlines()) == 3


def test_the_kept_file_is_written_whole_after_many_names_or_a_line_cut_short(tmp_path):
    init_vault(tmp_path)
    vault = Vault(tmp_path)
    path = vault.state_dir / VOCABULARY_FILE
    page_vocabulary(vault, NAMES)
    many = NAMES + [f"Note {i}" for i in range(REWRITE_AFTER + 1)]
    assert fields(page_vocabulary(vault, many)) == reference(many)
    assert len(path.read_text().splitlines()) == 1
    page_vocabulary(vault, NAMES[1:])
    with path.open("a") as log:
        log.write('{"added": ["Cut Sh')  # a run killed while appending
    assert fields(page_vocabulary(vault, NAMES[2:])) == reference(NAMES[2:])
    assert len(path.read_text().splitlines()) == 1
    assert fields(page_vocabulary(vault, NAMES[2:])) == reference(NAMES[2:])
    data = json.loads(path.read_text())
    assert all(n > 0 for kind in data["counts"].values() for n in kind.values())  # features gone are dropped


def test_page_names_ground_words_and_acronyms():
    pages = NameVocabulary.of(["Write Ahead Log", "Gossip Protocol"])
    evidence = ["A replica appends every change to its log before applying it."]
    text = "A replica appends every change to the WAL before applying it, as gossip spreads it."
    assert ungrounded(text, evidence, set()) != ""
    assert ungrounded(text, evidence, set(), pages) == ""
    assert "[[Chubby]]" in ungrounded("A replica appends every change to [[Chubby]].", evidence, set(), pages)


def test_walk_stems_lists_walk_files_names_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c").mkdir()
    (tmp_path / ".hidden").mkdir()
    for rel in ("a.md", "b.md", "b/a.md", "b/z.md", "b/c/x.md", "c.md", "d.txt", ".hidden/h.md", "b/.h.md",
                "e.v1.md"):
        (tmp_path / rel).write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.md"
    outside.write_text("x")
    os.symlink(outside, tmp_path / "link out.md")
    os.symlink(tmp_path / "a.md", tmp_path / "link in.md")
    os.symlink(tmp_path / "b", tmp_path / "folder link")
    stems = walk_stems(tmp_path)
    assert stems == [p.stem for p in walk_files(tmp_path, suffix=".md")]
    assert stems == ["a", "a", "x", "z", "b", "c", "e.v1", "link in"]  # b/c/x.md before b/z.md, b/ before b.md


def test_aliases_are_read_only_when_a_link_names_no_page():
    asked = []

    def aliases():
        asked.append(1)
        return {"Multi-Paxos": "Paxos"}

    resolver = LinkResolver(["Paxos", "Raft"], aliases)
    assert resolver.fix("See [[raft]] and [[Paxos|it]].") == "See [[Raft]] and [[Paxos|it]]." and not asked
    assert resolver.fix("See [[Multi-Paxos]].") == "See [[Paxos]]." and asked == [1]
    assert resolver.resolve("multi-paxos") == "Paxos" and asked == [1]
