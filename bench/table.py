"""One row per figure a benchmark measured; the whole run prints as one markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    path: str
    metric: str
    values: Sequence[float]  # one per run (interleaved with the baseline's)
    unit: str = ""
    baseline: str = ""  # what the ratio is to
    baseline_values: Sequence[float] = ()
    target: str = ""
    passed: bool | None = None  # None: reported, no target

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def ratio(self) -> float | None:
        baseline = statistics.median(self.baseline_values) if self.baseline_values else 0
        if not baseline:  # none measured, or nothing to divide by (an idle CPU's 0 ms)
            return None
        return self.median / baseline


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _figure(values: Sequence[float], unit: str) -> str:
    median = _number(statistics.median(values)) + (f" {unit}" if unit else "")
    if len(values) < 2:
        return median
    return f"{median} ({_number(min(values))}–{_number(max(values))})"


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| path | metric | median (range) | baseline, same run | ratio | target | |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        baseline = (f"{row.baseline}: {_figure(row.baseline_values, row.unit)}"
                    if row.baseline_values else row.baseline)
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
        verdict = {True: "pass", False: "**miss**", None: ""}[row.passed]
        lines.append(f"| {row.path} | {row.metric} | {_figure(row.values, row.unit)} | "
                     f"{baseline} | {ratio} | {row.target} | {verdict} |")
    return "\n".join(lines)
