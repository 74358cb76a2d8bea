"""A progress bar on a terminal (tqdm): items done, time left, tokens spent; nothing otherwise.

Lines printed while the bar shows go through `echo`, which clears the bar, prints, and draws it
again below, so a log never holds half-overwritten counter lines.
"""
from __future__ import annotations

import sys

import click


class ItemProgress:
    def __init__(self, total: int | None, unit: str, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=f" {unit}", file=sys.stderr, dynamic_ncols=True,
                            leave=False, bar_format="{n_fmt}/{total_fmt}{unit} {bar} {elapsed}<{remaining}{postfix}")

    def advance(self, tokens: int = 0) -> None:
        if self.bar is not None:
            if tokens:
                self.bar.set_postfix_str(f"{tokens:,} tokens", refresh=False)
            self.bar.update(1)

    def echo(self, line: str, err: bool = False) -> None:
        if self.bar is None:
            click.echo(line, err=err)
        else:
            self.bar.write(line, file=sys.stderr if err else sys.stdout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

