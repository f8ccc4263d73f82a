"""Typer sub-commands of `valuecrm`, one module per area."""
