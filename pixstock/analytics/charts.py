"""Chart geometry for server-side SVG: plain numbers in, rectangles, gridlines and labels out.

templates/analytics/_charts.html draws them. Sizes are in SVG units on a phone-width canvas (360
wide), so text stays readable on a phone and the chart simply scales up on a wide screen.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH = 360
# Colour-blind-safe pairs (Okabe-Ito): platform's share, photographers' share, and a third.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")


def nice_step(span: float, steps: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) that splits span into about `steps` parts."""
    if span <= 0:
        return 1
    raw = span / steps
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return max(1, int(factor * power))
    return max(1, int(10 * power))


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    """Everything a template needs to draw one chart."""

    width: int
    height: int
    title: str
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    gridlines: list[tuple[float, float, float, float]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (colour, name)
    empty: bool = False


def column_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    fmt: Callable[[int], str] = str,
    height: int = 200,
    max_labels: int = 6,
) -> Chart:
    """Stacked columns, one per label (a day or a month); negative values (refunds) hang below zero."""
    chart = Chart(WIDTH, height, title, legend=[(COLOURS[i], name) for i, (name, _) in enumerate(series)])
    count = len(labels)
    if not count or all(v == 0 for _, values in series for v in values):
        chart.empty = True
        return chart
    tops = [sum(max(v, 0) for v in column) for column in zip(*(values for _, values in series))]
    bottoms = [sum(min(v, 0) for v in column) for column in zip(*(values for _, values in series))]
    top, bottom = max(tops + [0]), min(bottoms + [0])
    step = nice_step(top - bottom)
    top = math.ceil(top / step) * step
    bottom = math.floor(bottom / step) * step
    if top == bottom:
        top = bottom + step
    left, right, plot_top, plot_bottom = 64, WIDTH - 8, 8, height - 24

    def y(value: float) -> float:
        return plot_top + (top - value) * (plot_bottom - plot_top) / (top - bottom)

    tick = bottom
    while tick <= top:
        chart.gridlines.append((left, round(y(tick), 2), right, round(y(tick), 2)))
        chart.labels.append(Label(left - 4, round(y(tick) + 4, 2), fmt(tick), "end"))
        tick += step
    slot = (right - left) / count
    bar = max(1.0, min(slot * 0.78, 28.0))  # two months should not look like two walls
    every = max(1, math.ceil(count / max_labels))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        up = down = 0
        for s, (name, values) in enumerate(series):
            value = values[i]
            if value == 0:
                continue
            start = up if value > 0 else down
            end = start + value
            if value > 0:
                up = end
            else:
                down = end
            y0, y1 = sorted((y(start), y(end)))
            chart.rects.append(Rect(round(x, 2), round(y0, 2), round(bar, 2), round(max(y1 - y0, 0.5), 2),
                                    COLOURS[s], f"{label} · {name}: {fmt(value)}"))
        if i % every == 0:
            chart.labels.append(Label(round(left + i * slot + slot / 2, 2), height - 6, label))
    return chart


def bar_chart(
    title: str,
    items: Sequence[tuple[str, int]],
    fmt: Callable[[int], str] = str,
    colour: str = COLOURS[0],
    notes: Sequence[str] | None = None,
) -> Chart:
    """Horizontal bars, largest first as given: the name above each bar, the value (and a note) after it."""
    row = 34
    chart = Chart(WIDTH, max(row, row * len(items)) + 4, title)
    if not items or all(value <= 0 for _, value in items):
        chart.empty = True
        return chart
    largest = max(value for _, value in items)
    left, right = 4, WIDTH - 124  # room after the longest bar for "฿1,234,567 · 12.5%"
    for i, (name, value) in enumerate(items):
        top = i * row + 2
        width = (right - left) * max(value, 0) / largest
        text = fmt(value) + (f" · {notes[i]}" if notes and notes[i] else "")
        chart.labels.append(Label(left, top + 11, _clip(name, 52), "start"))
        if value > 0:  # a zero gets its figure but no sliver of a bar
            chart.rects.append(Rect(left, top + 15, round(max(width, 1.5), 2), 14, colour, f"{name}: {text}"))
        chart.labels.append(Label(round(left + width + 6, 2), top + 26, text, "start"))
    return chart


def funnel_chart(title: str, steps: Sequence[tuple[str, int]]) -> Chart:
    """A funnel as bars, each step's share of the first step written beside it."""
    first = steps[0][1] if steps else 0
    notes = [f"{100 * n / first:.1f}%" if first and i else "" for i, (_, n) in enumerate(steps)]
    chart = bar_chart(title, steps, lambda n: f"{n:,}", COLOURS[2], notes)
    chart.empty = not any(n for _, n in steps)
    return chart


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
