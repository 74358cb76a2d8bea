"""How many results `Ingester.ingest_all` will report for some sources, for a progress bar."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from kbc.ingest.files import is_repository
from kbc.vault.files import walk_files


def count_results(sources: list[str]) -> int:
    """One per file of a plain folder (and per link skipped in it), one per other source."""
    total = 0
    for source in sources:
        path = Path(source.strip()).expanduser()
        if urlparse(source).scheme not in ("http", "https") and path.is_dir() and not is_repository(path):
            skipped: list[str] = []
            total += len(walk_files(path, within=path, skipped=skipped)) + len(skipped)
        elif source.strip():
            total += 1
    return total
