"""The fuzzy indexes find exactly what a rapidfuzz sweep over every text finds."""
import random

from rapidfuzz import fuzz, process

from kbc.compile.fuzzy_index import RatioIndex, TokenSetIndex

WORDS = "paxos raft leader election log of the and consensus multi map reduce memcache memcached x c 2pc".split()


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chars = list(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))))
        for _ in range(rng.randint(0, 3)):  # a few edits: near duplicates, typos, compounds
            where = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5 and where < len(chars):
                del chars[where]
            else:
                chars.insert(where, rng.choice("abcxyz -"))
        out.append("".join(chars).strip())
    return out


def test_ratio_index_matches_the_sweep():
    texts = _texts(1, 1500)
    for cutoff in (85, 80):
        index = RatioIndex(texts, cutoff)
        for query in texts[:300] + _texts(2, 100):
            swept = sorted(i for _, _, i in process.extract(query, texts, scorer=fuzz.ratio,
                                                             score_cutoff=cutoff, limit=None))
            assert index.near(query) == swept, query


def test_token_set_index_matches_the_sweep_but_pairs_the_caller_has():
    texts = _texts(3, 1500)
    strong = [{w for w in t.split() if len(w) > 3} for t in texts]
    index = TokenSetIndex(texts, 80, strong)
    for query in texts[:300] + _texts(4, 100):
        mine = {w for w in query.split() if len(w) > 3}
        swept = {i for _, _, i in process.extract(query, texts, scorer=fuzz.token_set_ratio,
                                                   score_cutoff=80, limit=None)}
        caller_has = {i for i, own in enumerate(strong) if own & mine}
        found = set(index.near(query, mine))
        assert found <= swept and swept - caller_has <= found, query


def test_empty_and_repeated_texts():
    index = RatioIndex(["", "raft", "raft", "rafts"], 85)
    assert index.near("raft") == [1, 2, 3]
    assert index.near("") == [0]
