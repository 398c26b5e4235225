"""``python -m mcpfleet``: the same as the ``mcpfleet`` command."""

from mcpfleet.cli import main

main()
