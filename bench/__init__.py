"""mcpfleet's benchmark harness: load generator, peer servers, runner and report.

Run ``python -m bench.run`` from the repository root; see ``bench/README.md``.
"""
