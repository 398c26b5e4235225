"""Prometheus text for the latest result of each endpoint, named as blackbox-style probes
are, so existing dashboards and alert rules read it:

    probe_success                        1 unless the endpoint is down
    probe_duration_seconds               all phases of the last probe
    probe_phase_duration_seconds{phase}  each phase
    probe_ssl_earliest_cert_expiry       the certificate's expiry, unix seconds
    mcp_probe_degraded                   1 when a latency or certificate condition failed
    mcp_tools_count                      tools listed
    mcp_probe_last_run_timestamp_seconds when the last probe started
    mcpfleet_monitor_open_incidents{lane}
"""

from __future__ import annotations

from mcpfleet.monitor.status import Snapshot

HELP = {
    "probe_success": "Whether the endpoint was up or degraded (1) or down (0) at the last probe.",
    "probe_duration_seconds": "Seconds the last probe took, all phases.",
    "probe_phase_duration_seconds": "Seconds each phase of the last probe took.",
    "probe_ssl_earliest_cert_expiry": "Unix time the endpoint's certificate expires.",
    "mcp_probe_degraded": "Whether the last probe failed a latency or certificate condition.",
    "mcp_tools_count": "Tools the endpoint listed at the last probe.",
    "mcp_probe_last_run_timestamp_seconds": "Unix time the last probe started.",
    "mcpfleet_monitor_open_incidents": "Incidents open now, per lane.",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(snap: Snapshot, location: str) -> str:
    samples: dict[str, list[str]] = {name: [] for name in HELP}
    for e in snap.endpoints:
        base = (
            f'endpoint="{_label(e.name)}",instance="{_label(e.url)}",location="{_label(location)}"'
        )
        lanes: dict[str, int] = {"health": 0, "cert": 0}
        for incident in e.open_incidents:
            lanes[incident.lane] = lanes.get(incident.lane, 0) + 1
        for lane, count in lanes.items():
            samples["mcpfleet_monitor_open_incidents"].append(f'{{{base},lane="{lane}"}} {count}')
        result = e.latest
        if result is None:
            continue
        samples["probe_success"].append(f"{{{base}}} {int(result.state != 'down')}")
        samples["probe_duration_seconds"].append(f"{{{base}}} {result.total_ms / 1000:.6f}")
        for phase, (_status, ms) in result.phases.items():
            if ms is not None:
                labels = f'{base},phase="{_label(phase)}"'
                samples["probe_phase_duration_seconds"].append(f"{{{labels}}} {ms / 1000:.6f}")
        if result.cert_days is not None:
            expiry = result.at + result.cert_days * 86400
            samples["probe_ssl_earliest_cert_expiry"].append(f"{{{base}}} {expiry:.0f}")
        degraded = int(result.state == "degraded")
        samples["mcp_probe_degraded"].append(f"{{{base}}} {degraded}")
        if result.tool_count is not None:
            samples["mcp_tools_count"].append(f"{{{base}}} {result.tool_count}")
        samples["mcp_probe_last_run_timestamp_seconds"].append(f"{{{base}}} {result.at:.3f}")
    lines = []
    for name, rows in samples.items():
        lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(name + row for row in rows)
    return "\n".join(lines) + "\n"
