"""``mcpfleet probe``: an external prober for MCP servers of either protocol era."""

from mcpfleet.probe.model import ClientCredentials, Options, Report, Status, Verdict
from mcpfleet.probe.runner import probe, probe_many

__all__ = ["ClientCredentials", "Options", "Report", "Status", "Verdict", "probe", "probe_many"]
