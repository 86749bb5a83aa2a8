"""The `threadline` command: thin Typer verbs over the stage functions."""
