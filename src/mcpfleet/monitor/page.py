"""The status pages: server-rendered HTML, inline CSS and SVG, no script, no build step;
a single column that reads on a phone and widens on a desk. The summary stays light
for many endpoints; each endpoint's page adds its latency chart and past incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.status import EndpointStatus, Snapshot
from mcpfleet.monitor.svg import COLOURS, bars_svg, day_bars, day_rects, latency_chart

HEADLINES = {
    "up": "All endpoints are up",
    "degraded": "Some endpoints are degraded",
    "down": "Some endpoints are down",
    "unknown": "No probe results yet",
}
STYLE = """
:root{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d232b;
background:#f5f6f8}
body{margin:0 auto;max-width:60rem;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
.banner{padding:.8rem 1rem;border-radius:.5rem;color:#fff;font-weight:600;margin-bottom:1rem}
section.endpoint{background:#fff;border-radius:.5rem;padding:1rem;margin-bottom:1rem;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.head{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5rem;align-items:baseline}
.head h2{font-size:1.1rem;margin:0}.url{color:#5c6670;font-size:.85rem;word-break:break-all}
.state{font-weight:600;padding:.1rem .5rem;border-radius:1rem;color:#fff;font-size:.85rem}
.uptime{display:flex;gap:1rem;flex-wrap:wrap;margin:.6rem 0;font-size:.9rem}
.uptime b{font-variant-numeric:tabular-nums}
svg.bars{width:100%;height:34px;display:block}svg.chart{width:100%;height:auto;display:block}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:#5c6670}
.legend,.muted{font-size:.8rem;color:#5c6670}
details{margin-top:.6rem}summary{cursor:pointer;font-weight:600}
ul.incidents{padding-left:1.1rem;font-size:.9rem}ul.incidents li{margin:.3rem 0}
footer{font-size:.8rem;color:#5c6670;text-align:center;margin:2rem 0}
"""


def when(at: float | None) -> str:
    if at is None:
        return "now"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def render_page(snap: Snapshot) -> str:
    """The summary: the overall state, then per endpoint its state, uptime, 90 daily bars
    and open incidents, each linking to its own page."""
    state = snap.state
    banner = (
        f'<div class="banner" id="overall" data-state="{state}" '
        f'style="background:{COLOURS.get(state, COLOURS["unknown"])}">'
        f"{HEADLINES.get(state, HEADLINES['unknown'])}</div>"
    )
    sections = "".join(_endpoint(e, detail=False) for e in snap.endpoints)
    return _document(snap, snap.title, banner + sections, root="")


def render_endpoint_page(snap: Snapshot, e: EndpointStatus) -> str:
    """One endpoint: the summary's section, its latency per phase and all its incidents."""
    back = '<p><a href="../index.html">&larr; All endpoints</a></p>'
    return _document(snap, f"{e.name} · {snap.title}", back + _endpoint(e, detail=True), "../")


def _document(snap: Snapshot, title: str, body: str, root: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}"
        f"<footer>Updated {when(snap.generated_at)} &middot; "
        f'<a href="{root}api/status.json">JSON</a></footer></body></html>'
    )


def _endpoint(e: EndpointStatus, *, detail: bool) -> str:
    uptime = "".join(
        f"<span>{label}: <b>{percent(value)}</b></span>" for label, value in e.uptime.items()
    )
    first = e.days[0].day if e.days else ""
    name = escape(e.name)
    title = name if detail else f'<a href="endpoint/{name}.html">{name}</a>'
    more = (
        f"<details open><summary>Latency per phase, last 7 days</summary>"
        f"{latency_chart(e.latency)}</details>{_incidents(e)}"
        if detail
        else _open_incidents(e)
    )
    return (
        f'<section class="endpoint" id="endpoint-{name}" data-state="{e.state}">'
        f'<div class="head"><h2>{title}</h2><span class="state" '
        f'style="background:{COLOURS.get(e.state, COLOURS["unknown"])}">{e.state}</span></div>'
        f'<div class="url">{escape(e.url)}</div>{_cause(e)}'
        f'<div class="uptime">{uptime}</div>{_day_bars(e)}'
        f'<div class="axis"><span>{first}</span><span>today</span></div>{more}</section>'
    )


def _day_bars(e: EndpointStatus) -> str:
    """The bars; the days before today rendered once a day (kept with them)."""
    past = e.past
    if past is None or len(e.days) != len(past.bars) + 1:
        return day_bars(e.days)
    if "html" not in past.memo:
        past.memo["html"] = day_rects(past.bars)
    rects = past.memo["html"] + day_rects(e.days[-1:], len(past.bars))
    return bars_svg(rects, len(e.days))


def _open_incidents(e: EndpointStatus) -> str:
    if not e.open_incidents:
        return ""
    return f'<h3>Open incidents</h3><ul class="incidents open">{_items(e.open_incidents)}</ul>'


def _cause(e: EndpointStatus) -> str:
    if e.latest is None or not e.latest.failures:
        return ""
    detail = "; ".join(f.detail for f in e.latest.failures[:3])
    return f'<p class="muted">Last probe {when(e.latest.at)}: {escape(detail)}</p>'


def _incidents(e: EndpointStatus) -> str:
    if not e.open_incidents and not e.past_incidents:
        return '<p class="muted">No incidents in the last 30 days.</p>'
    parts = [_open_incidents(e)]
    if e.past_incidents:
        parts.append(
            f"<h3>Past incidents ({len(e.past_incidents)})</h3>"
            f'<ul class="incidents past">{_items(e.past_incidents)}</ul>'
        )
    return "".join(parts)


def _items(incidents: list[Incident]) -> str:
    return "".join(
        f"<li><b>{escape(i.kind.replace('_', ' '))}</b> from {when(i.opened_at)}"
        f"{'' if i.resolved_at is None else ' to ' + when(i.resolved_at)}: {escape(i.cause)}</li>"
        for i in incidents
    )
