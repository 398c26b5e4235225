"""Inline SVG: the 90 daily bars, the latency chart, and the badge. Plain strings, no
script; every text that came from config or a server is escaped."""

from __future__ import annotations

from html import escape

from mcpfleet.monitor.status import DayBar

COLOURS = {"up": "#2e9d58", "degraded": "#d99a00", "down": "#d64541", "maintenance": "#5b7fd6",
           "unknown": "#9aa1ab", None: "#d5d9df"}  # fmt: skip
PHASE_COLOURS = ("#3a6ea5", "#d64541", "#2e9d58", "#d99a00", "#7b4fa0", "#1f9aa5", "#8a6d3b")
CHART_PHASES = ("total", "dns", "tcp", "tls", "http", "server/discover", "initialize",
                "tools/list", "call")  # fmt: skip


def day_bars(days: list[DayBar]) -> str:
    """One rect per day, coloured by its worst state, with a title for a tooltip."""
    return bars_svg(day_rects(days), len(days))


BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 8, 2, 34


def day_rects(days: list[DayBar] | tuple[DayBar, ...], first: int = 0) -> str:
    """The rects of ``days``, the first one at position ``first``."""
    rects = []
    for index, day in enumerate(days, first):
        uptime = "" if day.uptime is None else f", {day.uptime * 100:.2f}% up"
        label = escape(f"{day.day}: {day.state or 'no data'}{uptime}")
        rects.append(
            f'<rect x="{index * (BAR_WIDTH + BAR_GAP)}" y="0" width="{BAR_WIDTH}" '
            f'height="{BAR_HEIGHT}" rx="1.5" fill="{COLOURS[day.state]}"><title>{label}</title>'
            "</rect>"
        )
    return "".join(rects)


def bars_svg(rects: str, count: int) -> str:
    """The bars' SVG around ``count`` rects (``day_rects``)."""
    total = count * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    return (
        f'<svg class="bars" viewBox="0 0 {max(total, 1)} {BAR_HEIGHT}" '
        f'preserveAspectRatio="none" role="img" aria-label="daily state, last {count} days">'
        f"{rects}</svg>"
    )


def latency_chart(points: list[tuple[int, dict[str, float]]]) -> str:
    """Mean milliseconds per phase per hour, one polyline per phase, with a legend."""
    if not points:
        return '<p class="muted">No latency data yet.</p>'
    phases = [p for p in CHART_PHASES if any(p in ms for _h, ms in points)]
    top = max((ms.get(p, 0.0) for _h, ms in points for p in phases), default=1.0) or 1.0
    first, last = points[0][0], max(points[-1][0], points[0][0] + 1)
    width, height, pad = 600, 160, 4
    lines, legend = [], []
    for index, phase in enumerate(phases):
        colour = PHASE_COLOURS[index % len(PHASE_COLOURS)]
        coords = " ".join(
            f"{pad + (hour - first) / (last - first) * (width - 2 * pad):.1f},"
            f"{height - pad - ms[phase] / top * (height - 2 * pad):.1f}"
            for hour, ms in points
            if phase in ms
        )
        tip_x, tip_y = coords.rsplit(" ", 1)[-1].split(",")  # the latest hour, marked
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}">'
            f'<title>{escape(phase)}</title></polyline><circle cx="{tip_x}" cy="{tip_y}" '
            f'r="2.5" fill="{colour}"/>'
        )
        legend.append(f'<span style="color:{colour}">&#9632;</span> {escape(phase)}')
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="latency per phase"><line x1="0" y1="{height - pad}" x2="{width}" '
        f'y2="{height - pad}" stroke="#c9ced6"/>{"".join(lines)}</svg>'
        f'<p class="legend">max {top:.0f} ms &middot; {" ".join(legend)}</p>'
    )


def badge(label: str, state: str) -> str:
    """A flat two-part badge, ``label | state``, as a standalone SVG document."""
    left, right = 6 * len(label) + 12, 6 * len(state) + 12
    total = left + right
    colour = COLOURS.get(state, COLOURS["unknown"])
    label, state = escape(label), escape(state)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label}: {state}"><title>{label}: {state}</title>'
        f'<rect width="{left}" height="20" rx="3" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" rx="3" fill="{colour}"/>'
        f'<rect x="{left}" width="4" height="20" fill="{colour}"/>'
        f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        f'text-anchor="middle"><text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{state}</text></g></svg>'
    )
