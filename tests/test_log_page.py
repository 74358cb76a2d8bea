"""The log stays a page of bounded size: long lists are counted, not listed, and runs that no
longer fit log.md move to a page per month, newest first, linked from it."""
import re
from types import SimpleNamespace

from kbc.compile.bookkeeping import CompileReport
from kbc.compile.log_page import LOG_ITEMS, LOG_LINES, append_log
from kbc.vault.bookkeeping import is_navigation, refresh_wiki
from kbc.vault.indexes import estimate_tokens
from kbc.vault.pages import read_page
from tests.conftest import open_vault

TOTALS = SimpleNamespace(prompt_tokens=10, cached_tokens=0, completion_tokens=5, requests=1, cache_hits=0)


def test_a_big_run_is_counted_and_old_runs_move_to_their_month(sample_vault, server):
    vault = open_vault(sample_vault, server)
    vault.settings.index_max_tokens = 1500
    big = CompileReport(new=[f"raw/note {i}.md" for i in range(300)], written=[f"Page {i}" for i in range(3000)],
                        warnings=[f"concept Page {i}: one paragraph not supported" for i in range(500)])
    append_log(vault, big, TOTALS)
    body = read_page(vault.wiki_dir / "log.md")[1]
    assert "… and 2,950 more" in body and "… and 250 more" in body
    assert body.count("- Warning: concept") == LOG_LINES and "… and 450 more (`kbc compile --json`" in body
    assert body.count("[[Page ") == LOG_ITEMS
    for run in range(60):
        append_log(vault, CompileReport(new=[f"raw/later {run}.md"], written=[f"Later {run}"]), TOTALS)
    log = read_page(vault.wiki_dir / "log.md")[1]
    assert estimate_tokens(log) <= 1500 + 200 and "[[Later 59]]" in log and "Later 0]]" not in log
    archives = sorted((vault.wiki_dir / "log").glob("Log of *.md"))
    assert len(archives) == 1 and f"[[{archives[0].stem}]]" in log and is_navigation(archives[0].stem)
    moved = read_page(archives[0])[1]
    assert "[[Later 0]]" in moved and "… and 2,950 more" in moved  # nothing is lost, only moved
    assert moved.index("[[Later 0]]") < moved.index("… and 2,950 more")  # newest first
    refresh_wiki(vault)
    assert "Backlinks" not in read_page(archives[0])[1]  # navigation: no backlinks section


def test_a_month_past_its_limit_is_sealed_as_a_part_and_never_rewritten(sample_vault, server):
    """A run rewrites one page of the month's archive, of bounded size: a full page is sealed
    as the month's next part, written once; nothing is lost, newest first across the parts."""
    vault = open_vault(sample_vault, server)
    vault.settings.index_max_tokens = 300
    for run in range(120):
        append_log(vault, CompileReport(new=[f"raw/run {run}.md"], written=[f"Run {run} page {i}" for i in range(8)]),
                   TOTALS)
    folder = vault.wiki_dir / "log"
    pages = {p.stem: p for p in folder.glob("*.md")}
    month = next(name for name in pages if not name.endswith(")"))
    parts = sorted((name for name in pages if name != month), key=lambda n: int(n.rsplit("(", 1)[1][:-1]))
    assert len(parts) >= 2 and parts[0] == f"{month} (1)" and all(is_navigation(name) for name in pages)
    log = read_page(vault.wiki_dir / "log.md")[1]
    assert f"[[{month}]]" in log and "(1)]]" not in log  # log.md links the month; each page its older part
    stamps = {name: pages[name].stat().st_mtime_ns for name in parts}
    chain, name = [], month
    while name:
        body = read_page(pages[name])[1]
        chain += [int(n) for n in re.findall(r"\[\[Run (\d+) page 0\]\]", body)]
        assert estimate_tokens(body) <= 8 * 300 + 400
        older = re.search(r"Older runs of the month: \[\[(.+?)\]\]", body)
        name = older[1] if older else None
    in_log = [int(n) for n in re.findall(r"\[\[Run (\d+) page 0\]\]", log)]
    assert in_log + chain == list(range(119, -1, -1))  # every run once, newest first
    append_log(vault, CompileReport(new=["raw/one more.md"], written=["One more"]), TOTALS)
    assert {name: pages[name].stat().st_mtime_ns for name in parts} == stamps  # sealed parts untouched
