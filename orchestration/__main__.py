"""`python -m orchestration` runs the `museed` command line."""

from orchestration.cli import app

app()
