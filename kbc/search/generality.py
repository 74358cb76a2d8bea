"""How topical a question's word is: its frequency in the wiki against its frequency in general
English (wordfreq's list). A word the wiki uses at least as often as English does is what the
wiki is about ("lease", "Chubby") and keeps its weight; one English uses more than the wiki is
how the question is put ("define", "explain", "help"): rare in a small wiki, its IDF alone would
make it the question's heaviest term. Such a word is weighed down by the ratio of the two
frequencies (terminology extraction's "weirdness"), squared."""
from __future__ import annotations

from functools import lru_cache

SMOOTHING = 0.1  # occurrences credited to a word the wiki lacks (a name only the question uses)
SHARPNESS = 2  # the ratio's power: a word the wiki uses half as often as English counts a quarter


@lru_cache(maxsize=4096)
def english_frequency(word: str) -> float:
    """The word's frequency in general English (0 for a word the list lacks: a name, a term)."""
    from wordfreq import word_frequency  # its word lists load on first use

    return word_frequency(word, "en")


def topicality(word: str, count: int, total: int) -> float:
    """0..1: the wiki's frequency of the word (`count` of `total` words) against general
    English's, capped at 1."""
    english = english_frequency(word)
    if not english:
        return 1.0
    return min(1.0, (count + SMOOTHING) / max(total, 1) / english) ** SHARPNESS
