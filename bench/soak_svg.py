"""bench/soak.py's plot: the hot store's size and the KPI lag over a soak, as a plain SVG (no plotting
library in the environment; the README embeds the file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WIDTH, PANEL_H, PAD = 760, 180, 48


def _panel(top: float, title: str, points: list[tuple[float, float]], lines: dict[str, float], t_max: float,
           colour: str) -> list[str]:
    """One panel: a polyline of (minute, value) and dashed horizontal reference lines with their labels."""
    y_max = max([v for _, v in points] + list(lines.values()) + [1.0]) * 1.1
    x0, x1, y0 = PAD, WIDTH - 16, top + PANEL_H

    def xy(t: float, v: float) -> str:
        return f"{x0 + (x1 - x0) * t / max(t_max, 1e-9):.1f},{y0 - PANEL_H * v / y_max:.1f}"

    out = [f'<text x="{x0}" y="{top - 8}" font-size="13" font-weight="bold">{title}</text>',
           f'<rect x="{x0}" y="{top}" width="{x1 - x0}" height="{PANEL_H}" fill="none" stroke="#999"/>',
           f'<text x="{x0 - 6}" y="{top + 10}" font-size="10" text-anchor="end">{y_max:.0f}</text>',
           f'<text x="{x0 - 6}" y="{y0}" font-size="10" text-anchor="end">0</text>']
    for label, value in lines.items():
        y = y0 - PANEL_H * value / y_max
        out += [f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#c33" stroke-dasharray="5,4"/>',
                f'<text x="{x1 - 4}" y="{y - 4:.1f}" font-size="10" text-anchor="end" fill="#c33">{label}</text>']
    if points:
        path = " ".join(xy(t, v) for t, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
    return out


def write(path: Path, outcome: Any, threshold_mb: float, bound_mb: float, max_lag_s: float = 30.0) -> None:
    """``outcome``: a soak.Outcome (samples with t_s, hot_mb, lag_s)."""
    samples = outcome.samples
    t_max = max((s.t_s for s in samples), default=1.0) / 60
    hot = [(s.t_s / 60, s.hot_mb) for s in samples]
    lag = [(s.t_s / 60, s.lag_s) for s in samples if s.lag_s is not None]
    body = _panel(PAD, f"hot store, MB ({outcome.rate:,.0f} tx/s)", hot,
                  {f"threshold {threshold_mb:g}": threshold_mb, f"bound {bound_mb:.0f}": bound_mb}, t_max, "#1f77b4")
    body += _panel(2 * PAD + PANEL_H + 10, "KPI watermark lag, s", lag, {f"{max_lag_s:g} s": max_lag_s}, t_max,
                   "#2ca02c")
    height = 3 * PAD + 2 * PANEL_H + 30
    body.append(f'<text x="{WIDTH / 2}" y="{height - 8}" font-size="11" text-anchor="middle">'
                f'minutes since the soak started</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n')
    path.write_text(svg)
