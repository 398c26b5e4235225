"""The monitor's YAML: the example reads as documented; each mistake names line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcpfleet.cli import main
from mcpfleet.monitor import load_config, parse_config
from mcpfleet.monitor.source import MonitorConfigError
from tests.conftest import free_port

EXAMPLE = Path(__file__).with_name("example_monitor.yaml")
EXAMPLE_ENV = {
    "DOCS_TOKEN": "t0ken",
    "BILLING_CLIENT_ID": "monitor",
    "BILLING_CLIENT_SECRET": "shh",
    "MONITOR_WEBHOOK_SECRET": "hmac-key",
    "SLACK_WEBHOOK_URL": "https://hooks.example.com/slack",
    "PAGERDUTY_ROUTING_KEY": "k" * 32,
}
GOOD = "endpoints:\n  - name: a\n    url: http://127.0.0.1:9/mcp\n"


def test_the_example_reads_as_documented() -> None:
    """The README's example: eras, credentials from the environment, conditions merged over
    the defaults, alert rule, channels with their filters, storage and server."""
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    docs, billing = config.endpoints
    assert docs.options.era == "auto"
    assert billing.options.era == "legacy"
    assert docs.options.headers == {"x-team": "docs", "authorization": "Bearer t0ken"}
    assert docs.options.call == "lookup"
    assert docs.options.args == {"key": "health"}
    assert dict(docs.conditions.latency_ms) == {"http": 1500.0, "tools/list": 2000.0}
    assert docs.conditions.tools_present == ("lookup", "search")
    assert docs.conditions.cert_days_left == billing.conditions.cert_days_left == 14.0
    assert billing.interval == 30.0
    assert docs.interval == 60.0
    assert billing.options.client_credentials is not None
    assert billing.options.client_credentials.client_secret == "shh"
    assert "shh" not in repr(config)
    assert "t0ken" not in repr(config)
    assert (config.alerts.failures, config.alerts.window, config.alerts.successes) == (3, 5, 2)
    assert config.alerts.remind_every == 3600.0
    assert (config.alerts.quorum, config.alerts.quorum_within) == (1, 300.0)
    assert config.alerts.in_maintenance(1_798_149_600.0)  # 2026-12-25 00:00 UTC
    kinds = [channel.kind for channel in config.channels]
    assert kinds == ["webhook", "slack", "pagerduty", "sns"]
    assert config.channels[2].url == "https://events.pagerduty.com/v2/enqueue"
    assert config.channels[2].events == {"down", "auth_broken", "recovered"}
    assert config.storage.url == "sqlite:////var/lib/mcpfleet/monitor.db"
    assert (config.host, config.port, config.location) == ("0.0.0.0", 8080, "eu-west-1")


MISTAKES = [
    ("endpoints: [\n", 2, "", "not valid YAML"),
    ("- 1\n", 1, "", "must be a mapping"),
    ("endpoints: []\n", 1, "endpoints", "at least one endpoint"),
    (GOOD + "    interval: soon\n", 4, "endpoints[0].interval", "expected a duration"),
    (GOOD + "    era: 2024\n", 4, "endpoints[0].era", "expected a string"),
    (GOOD + "    era: '2024'\n", 4, "endpoints[0].era", "must be one of auto, 2026-07-28"),
    (GOOD + "    token_env: NOT_SET_ANYWHERE\n", 4, "endpoints[0].token_env", "NOT_SET_ANYWHERE"),
    (GOOD + "    condition: {}\n", 4, "endpoints[0].condition", "unknown key"),
    (GOOD + "    conditions:\n      latency_ms: {http: fast}\n", 5,
     "endpoints[0].conditions.latency_ms.http", "expected a number"),
    (GOOD + "    conditions:\n      status: green\n", 5,
     "endpoints[0].conditions.status", "must be one of up"),
    (GOOD + "    url: http://127.0.0.1:9/other\n", 4, "url", "given twice"),
    (GOOD + "  - name: a\n    url: http://127.0.0.1:9/mcp\n", 4, "endpoints[1].name", "unique"),
    ("endpoints:\n  - name: a\n    url: ftp://x/mcp\n", 3,
     "endpoints[0].url", "http:// or https://"),
    ("endpoints:\n  - url: http://x/mcp\n", 2, "endpoints[0].name", "is required"),
    ("endpoints:\n  - {name: ../etc, url: 'http://x/mcp'}\n", 2, "endpoints[0].name",
     "letters, digits"),
    (GOOD + "alerts:\n  failures: 4\n  window: 3\n", 6, "alerts.window", "at least failures"),
    (GOOD + "alerts:\n  maintenance:\n    - {start: '25:00'}\n", 6,
     "alerts.maintenance[0].start", "HH:MM"),
    (GOOD + "channels:\n  - type: webhook\n    url: http://x/\n", 5,
     "channels[0].secret_env", "is required"),
    (GOOD + "channels:\n  - type: slack\n", 5, "channels[0].url", "needs url"),
    (GOOD + "channels:\n  - type: pager\n", 5, "channels[0].type", "must be one of webhook"),
    (GOOD + "channels:\n  - type: sns\n    events: [paged]\n", 6,
     "channels[0].events", "unknown event"),
    (GOOD + "storage:\n  url: mysql://x\n", 5, "storage.url", "sqlite:///"),
    (GOOD + "serve:\n  port: '80'\n", 5, "serve.port", "expected an integer"),
    (GOOD + "jitter: 2\n", 4, "jitter", "between 0 and 1"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "key", "reason"), MISTAKES)
def test_a_mistake_names_its_line_and_key(text: str, line: int, key: str, reason: str) -> None:
    """Each mistake is refused with the line it is on, its dotted key and the reason."""
    with pytest.raises(MonitorConfigError) as caught:
        parse_config(text, "monitor.yaml", {})
    error = caught.value
    assert (error.line, error.key) == (line, key), str(error)
    assert reason in error.reason
    assert str(error).startswith(f"monitor.yaml:{line}: ")


def test_check_config_command_reports_the_mistake(tmp_path: Path) -> None:
    """``mcpfleet monitor check-config`` prints file:line: key: reason and exits 1, and
    summarises a good file."""
    path = tmp_path / "monitor.yaml"
    path.write_text(GOOD + "    timeout: 0\n", encoding="utf-8")
    runner = CliRunner()
    failed = runner.invoke(main, ["monitor", "check-config", "--config", str(path)])
    assert failed.exit_code == 1
    assert f"{path}:4: endpoints[0].timeout: must be at least 0.1 s" in failed.output
    path.write_text(textwrap.dedent(GOOD), encoding="utf-8")
    passed = runner.invoke(main, ["monitor", "check-config", "--config", str(path)])
    assert passed.exit_code == 0, passed.output
    assert "1 endpoints, 0 channels, history in sqlite" in passed.output


def test_unreachable_history_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A PostgreSQL history nobody listens at fails ``monitor run`` with exit 1 and one
    line naming the store, no traceback."""
    path = tmp_path / "monitor.yaml"
    storage = f"storage: {{url: 'postgresql://monitor@127.0.0.1:{free_port()}/monitor'}}\n"
    path.write_text(GOOD + storage, encoding="utf-8")
    result = CliRunner().invoke(main, ["monitor", "run", "--once", "--config", str(path)])
    assert result.exit_code == 1
    assert "Error: postgresql history: OperationalError" in result.output
    assert "Traceback" not in result.output
