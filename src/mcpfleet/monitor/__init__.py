"""``mcpfleet monitor``: the prober on a schedule, with history, alerts and a status page.

    config     the YAML file (``source`` names the line and key of a mistake)
    scheduler  the loop: probe (``mcpfleet.probe``, in process), judge, keep, alert
    results    a probe report judged against the endpoint's conditions (pure)
    alerts     incidents: open, escalate, remind, resolve, drift notices, quorum (pure)
    payloads   what the webhook (HMAC-signed), Slack, PagerDuty and SNS are sent (pure)
    delivery   sending, with retries and backoff, each attempt recorded
    store      the history interface and its schema migrations; ``sqlstore`` implements
               it once for SQL, with two dialects: ``sqlite`` (default), ``postgres``
    status     what the page, JSON API, badges and metrics show; ``page``, ``svg``,
               ``metrics`` render it; ``web`` serves it and exports it as files

The monitor reuses ``probe/`` and never imports ``server/`` or ``transport/``.
"""

from mcpfleet.monitor.config import MonitorConfig, load_config, parse_config
from mcpfleet.monitor.scheduler import Monitor
from mcpfleet.monitor.store import HistoryStore, open_store

__all__ = ["HistoryStore", "Monitor", "MonitorConfig", "load_config", "open_store", "parse_config"]
