"""The auto-linker's trie of terms matches what an alternation of the same terms matches."""
import random
import re

from kbc.vault.autolink import MentionLinker, _is_acronym, term_key, term_pattern
from kbc.vault.term_trie import trie_pattern

TEXT = ("Raft elects a leader; the Raft Log holds entries. Paxos and Multi-Paxos agree on values, "
        "as do RAFT and PBFT clusters. A policy, two policies, the Gossip Protocols, log4 files, "
        "Log4j and Vector Clocks order events; Leader Election picks one node. Lamport's clocks, "
        "quorum systems and Quorums of acceptors, the Byzantine Generals, and byzantine faults.")


def test_the_trie_finds_what_the_alternation_finds():
    words = re.findall(r"[A-Za-z][\w']*", TEXT)
    rng = random.Random(14)
    terms = {"Raft", "Raft Log", "Paxos", "RAFT", "PBFT", "Policy", "Log4", "Leader", "Leader Election",
             "Byzantine Generals", "Quorum", "Clock"}
    for _ in range(300):
        i = rng.randrange(len(words) - 2)
        terms.add(" ".join(words[i:i + rng.choice([1, 2, 3])]))
    by_key = {}
    for term in sorted(t for t in terms if len(t) >= 3):
        by_key.setdefault(term_key(term), term)
    ordered = sorted(by_key, key=len, reverse=True)
    edge = r"(?<![\w\-\[|])", r"(?![\w\-\]])"
    alternation = re.compile(edge[0] + "(?:" + "|".join(term_pattern(by_key[k]) for k in ordered) + ")" + edge[1])
    trie = re.compile(edge[0] + trie_pattern(list(by_key.values()), _is_acronym) + edge[1])
    found = [m.span() for m in alternation.finditer(TEXT)]
    assert len(found) > 20 and [m.span() for m in trie.finditer(TEXT)] == found


def test_the_linker_links_plurals_acronyms_and_the_longest_name():
    linker = MentionLinker({"Raft": [], "Raft Log": [], "PBFT": [], "Policy": []})
    linked = linker.link("The raft log grows; pbft is not PBFT; two policies apply.\n", "Other")
    assert linked == "The [[Raft Log|raft log]] grows; pbft is not [[PBFT]]; two [[Policy|policies]] apply.\n"


def test_a_focused_linker_links_as_the_full_one_does():
    """focus() compiles only the terms whose first word begins a word of the pages to link: the
    links come out the same, on text with plurals, acronyms, hyphens and titles."""
    words = re.findall(r"[A-Za-z][\w'-]*", TEXT)
    rng = random.Random(7)
    pages = {" ".join(words[i:i + rng.choice([1, 2, 3])]): [] for i in (rng.randrange(len(words) - 2) for _ in range(200))}
    pages.update({"Multi-Paxos": ["MP"], "Vector Clock": ["vector clocks"], "Zebra Stripes": []})
    titles = ["Lamport's clocks, quorum systems", "Nothing Here At All"]
    texts = [TEXT, TEXT.replace("Raft", "Rafts").lower(), "Zero terms here.\n"]
    full, focused = MentionLinker(pages, titles), MentionLinker(pages, titles)
    focused.focus(texts)
    assert focused.pattern.pattern != full.pattern.pattern  # fewer terms compiled
    for text in texts:
        assert focused.link(text, "Other") == full.link(text, "Other")
    assert full.link(TEXT, "Other") != TEXT


def test_focus_keeps_only_terms_whose_every_word_begins_a_word_of_the_pages():
    """A term is compiled only when each of its words begins a word of the pages (folded as
    page_words folds them): links come out the same, with plurals, signs inside words, the
    letters that fold to ASCII (K, ſ, ı), non-ASCII words and titles found inside words."""
    pages = {"Raft Log": [], "Raft Leader": [], "Policy Engine": [], "Kelvin Scale": [], "State Machine": [],
             "Café Crème": [], "Über Node": [], "snake_case Name": [], "Multi-Paxos Round": [], "Log4 Index": []}
    titles = ["Notes on the Raft Leader", "Twelve Policy Engines Compared"]
    texts = ["A raft leader wrote two policy engines; the KELVIN scale and the ſtate machines.\n",
             "café crème, über node, snake_case names, multi-paxos rounds, log4 index, "
             "notes on the raft leaders and twelve policy engines compared.\n"]
    full, focused = MentionLinker(pages, titles), MentionLinker(pages, titles)
    focused.focus(texts[:1])
    assert "Log" not in focused.pattern.pattern and "Caf" not in focused.pattern.pattern  # "raft log" is not there
    assert focused.link(texts[0], "Other") == full.link(texts[0], "Other") != texts[0]
    focused.focus(texts)
    for text in texts:
        assert focused.link(text, "Other") == full.link(text, "Other")


def test_focus_reads_only_the_lines_link_may_link():
    """A Backlinks or Sources section (a page of thousands of names) names no term focus
    compiles; links come out the same, a fenced block and a heading left alone too."""
    pages = {"Raft Log": [], "Paxos Round": [], "Gossip Protocol": [], "Vector Clock": []}
    text = ("# Raft Log\n\nThe paxos round ends.\n\n```\ngossip protocol\n```\n\n## Sources\n\n- [[Vector Clock]] note\n\n"
            "<!-- kbc:backlinks -->\n## Backlinks\n\n- gossip protocol, vector clock\n")
    full, focused = MentionLinker(pages, []), MentionLinker(pages, [])
    focused.focus([text])
    assert "Gossip" not in focused.pattern.pattern.title() and "Vector" not in focused.pattern.pattern.title()
    assert focused.link(text, "Other") == full.link(text, "Other") != text
