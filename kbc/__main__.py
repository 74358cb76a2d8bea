"""`python -m kbc` runs the command line."""
from kbc.cli import cli

cli()
