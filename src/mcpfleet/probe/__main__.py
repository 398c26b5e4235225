"""``python -m mcpfleet.probe URL ...``."""

from mcpfleet.probe.cli import probe

probe(prog_name="mcpfleet probe")
