"""kbc: a knowledge-base compiler from raw research notes to a linked Markdown wiki."""

__version__ = "0.1.0"
