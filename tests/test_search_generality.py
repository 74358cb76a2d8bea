"""A question's words weighed by the wiki's use of them against general English's."""
from kbc.search.generality import topicality


def test_instruction_words_weigh_less_than_topic_words():
    # A 20,000-word wiki that never says "define" but says "lease" 40 times.
    assert topicality("define", 0, 20_000) < 0.1
    assert topicality("lease", 40, 20_000) == 1.0
    # A name general English lacks is a topic word whatever the wiki's count.
    assert topicality("karpathy", 0, 20_000) == 1.0
    # Fewer uses than English's share weigh down smoothly, not by a cut.
    assert 0.0 < topicality("explain", 0, 20_000) < topicality("explain", 1, 20_000) < 1.0
