"""Front matter goes through libyaml when it can, and keeps every guard when it cannot."""
import pytest
import yaml

from kbc.vault import frontmatter
from kbc.vault.frontmatter import FrontMatterError, split


def test_ordinary_front_matter_takes_the_fast_loader_with_the_same_result():
    raw = 'title: Q&A on Raft\ncreated: 2026-13-45\nday: 2026-01-02\ntags: [raft, "[[Leader]]"]\n'
    assert frontmatter._loader_for(raw) is frontmatter._FastLoader
    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(frontmatter._FastLoader, yaml.CSafeLoader)
    props, body = split(f"---\n{raw}---\nBody")
    assert props == {"title": "Q&A on Raft", "created": "2026-13-45", "day": "2026-01-02",
                     "tags": ["raft", "[[Leader]]"]} and body == "Body"
    assert yaml.load(raw, Loader=frontmatter._Loader) == yaml.load(raw, Loader=frontmatter._FastLoader)


def test_aliases_and_deep_nesting_still_meet_the_checked_loader():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    with pytest.raises(FrontMatterError, match="aliases"):
        split(f"---\n{laughs}---\n")
    deep = "k: " + "[" * 5000 + "]" * 5000 + "\n"
    assert frontmatter._loader_for(deep) is frontmatter._Loader
    with pytest.raises(FrontMatterError):
        split(f"---\n{deep}---\n")


def test_the_fast_dumper_writes_the_bytes_the_python_one_did():
    import datetime as dt

    props = {"title": "Ünïcode: «quotes» 'single' \"double\" #hash", "aliases": ["- dash", "a: colon", "[[Link]]"],
             "created": dt.date(2026, 11, 30), "empty": "", "number_like": "0123", "yes": "yes", "none": None,
             "multi": "line one\nline two", "tags": ["concept"], "kbc_hash": "p" + "0" * 64, "count": 3}
    python = yaml.dump(props, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=True, width=10_000,
                       default_flow_style=False)
    assert yaml.dump(props, Dumper=frontmatter._DUMPER, sort_keys=False, allow_unicode=True, width=10_000,
                     default_flow_style=False) == python
    assert frontmatter.render(props, "Body\n").startswith(f"---\n{python}---\n")
