"""Geometry of the match-weight waterfall chart, drawn by the template as inline SVG.

The stored explanation is ``{"prior": w0, "comparisons": [[name, level label,
weight], ...]}``: the final match weight is the prior plus every comparison's
weight, and the probability is ``2**w / (1 + 2**w)``. Each bar spans the
running total before and after its step, so a steward sees which comparison
pushed the pair up or down. Drawn on the server (no script needed) with SVG
attributes and CSS classes only: the Content-Security-Policy forbids inline
styles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LABEL_W = 300  # the text column on the left
PLOT_W = 440
TOTAL_W = 80  # the running total on the right
ROW_H = 30
TOP = 24  # room for the axis ticks


@dataclass
class Bar:
    label: str
    level: str
    weight: float
    total: float
    x: float
    width: float
    y: float
    kind: str  # prior | up | down | none | final


@dataclass
class Waterfall:
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    zero_x: float
    width: int
    height: int
    final_weight: float
    probability: float


def probability(weight: float) -> float:
    # 2**w / (1 + 2**w), written to stay finite for large |w|.
    return 1.0 / (1.0 + math.pow(2.0, -weight)) if weight > -1000 else 0.0


def waterfall(explanation: dict[str, Any] | None) -> Waterfall | None:
    """The chart of one explanation, or None when it holds no weights (e.g. a rule pair)."""
    if not explanation or "prior" not in explanation:
        return None
    steps: list[tuple[str, str, float, str]] = [("prior", "before any comparison", float(explanation["prior"]),
                                                 "prior")]
    for item in explanation.get("comparisons") or []:
        name, level, weight = str(item[0]), str(item[1]), float(item[2])
        steps.append((name, level, weight, "up" if weight > 0 else "down" if weight < 0 else "none"))
    totals, running = [], 0.0
    for _name, _level, weight, _kind in steps:
        before, running = running, running + weight
        totals.append((before, running))
    lo = min(0.0, *(t for pair in totals for t in pair))
    hi = max(0.0, *(t for pair in totals for t in pair))
    # Ticks every 5 (or 10 for wide ranges), and the plot padded to whole ticks.
    step = 5 if hi - lo <= 40 else 10
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    hi = hi if hi > lo else lo + step
    scale = PLOT_W / (hi - lo)

    def px(value: float) -> float:
        return round(LABEL_W + (value - lo) * scale, 1)

    bars = []
    for i, ((name, level, weight, kind), (before, after)) in enumerate(zip(steps, totals)):
        left, right = px(min(before, after)), px(max(before, after))
        bars.append(Bar(name, level, weight, after, left, max(right - left, 1.5), TOP + i * ROW_H, kind))
    final = running
    bars.append(Bar("match weight", f"probability {100 * probability(final):.1f} %", final, final,
                    px(min(0.0, final)), max(abs(px(final) - px(0.0)), 1.5), TOP + len(steps) * ROW_H, "final"))
    ticks = [(px(v), f"{v:g}") for v in range(int(lo), int(hi) + 1, step)]
    return Waterfall(bars, ticks, px(0.0), LABEL_W + PLOT_W + TOTAL_W, TOP + (len(steps) + 1) * ROW_H + 8,
                     final, probability(final))
