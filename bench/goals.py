"""The fast-generation issue's goal table, read off one `glore bench engine` report.

Each row is a ratio (or a share of the matmul peak) measured side by side in the same run,
so the table says how far from each goal this machine is now, not an absolute speed.
Beside it, the row's ceiling on this machine (`bench.ceilings`: the value if one named
cost were zero), which says whether the goal is within reach of this CPU at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    """One row: what is measured, how it is read from the report, and the bound to meet."""

    name: str
    read: Callable[[dict[str, Any]], float | None]
    bound: float
    ceiling: str  # its key in the report's `ceilings`
    at_most: bool = False  # False: the value must reach `bound`; True: stay under it
    unit: str = "x"
    detail: Callable[[dict[str, Any]], str] = lambda _: ""

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound

    def show(self, value: float) -> str:
        return f"{value:.0%}" if self.unit == "%" else f"{value:.2f}x"


def _decode_64(report: dict[str, Any]) -> float | None:
    rows = [r for r in report.get("decode", []) if r.get("batch") == 64]
    return rows[0]["scheduler"]["fraction_of_matmul_peak"] if rows else None


def _training(report: dict[str, Any]) -> float | None:
    """The best setting's tokens/s against `random`, today's batches in float32."""
    rows = report.get("training", {}).get("settings", {})
    speedups = [r["speedup"] for r in rows.values() if "speedup" in r]
    return max(speedups) if speedups else None


def _training_detail(report: dict[str, Any]) -> str:
    rows = report.get("training", {}).get("settings", {})
    timed = {name: r for name, r in rows.items() if "tokens_per_s" in r}
    if not timed:
        return ""
    best = max(timed, key=lambda name: timed[name]["tokens_per_s"])
    base = timed.get("random", {}).get("tokens_per_s", 0.0)
    return f"{best} {timed[best]['tokens_per_s']:,.0f} vs random {base:,.0f} tok/s"


def _get(*keys: str) -> Callable[[dict[str, Any]], float | None]:
    def read(report: dict[str, Any]) -> float | None:
        node: Any = report
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node)

    return read


GOALS: tuple[Goal, ...] = (
    Goal(
        "rollouts/s against today's stage",
        _get("rollouts", "speedup"),
        5.0,
        "rollouts",
        detail=lambda r: "{:.0f} vs {:.0f}/s".format(
            r["rollouts"]["rollouts_per_s"], r["rollouts"]["baseline_rollouts_per_s"]
        ),
    ),
    Goal("decode at batch 64, share of fp32 matmul peak", _decode_64, 0.40, "decode_64", unit="%"),
    Goal(
        "concurrent glore solves against one at a time",
        _get("concurrency", "speedup"),
        8.0,
        "concurrency",
        detail=lambda r: f"{r['concurrency']['questions']} questions",
    ),
    Goal(
        "`always` wall time against draft only",
        _get("modes", "always", "wall_vs_draft"),
        2.0,
        "always",
        at_most=True,
    ),
    Goal("training tokens/s (ORM stage)", _training, 2.0, "training", detail=_training_detail),
)
"""The rows of the issue's goal table, in its order."""


def goal_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal's measured value (None where the report lacks that part), whether it is
    met, and its ceiling on this machine with whether the goal is within it."""
    rows = []
    for goal in GOALS:
        value = goal.read(report)
        ceiling = report.get("ceilings", {}).get(goal.ceiling, {}).get("value")
        try:
            detail = goal.detail(report) if value is not None else ""
        except (KeyError, TypeError):
            detail = ""
        rows.append(
            {
                "goal": goal.name,
                "value": value,
                "bound": ("<= " if goal.at_most else ">= ") + goal.show(goal.bound),
                "shown": "not measured" if value is None else goal.show(value),
                "met": None if value is None else goal.met(value),
                "ceiling": ceiling,
                "ceiling_shown": "-" if ceiling is None else goal.show(ceiling),
                "reachable": None if ceiling is None else goal.met(ceiling),
                "detail": detail,
            }
        )
    return rows


def format_goals(report: dict[str, Any]) -> str:
    """The goal table as aligned text, one row per goal."""
    rows = goal_rows(report)
    yes_no = {None: "-", True: "yes", False: "no"}
    head = ("goal", "measured", "bound", "met", "ceiling here", "within", "")
    lines = [
        (
            r["goal"],
            r["shown"],
            r["bound"],
            yes_no[r["met"]],
            r["ceiling_shown"],
            yes_no[r["reachable"]],
            r["detail"],
        )
        for r in rows
    ]
    cols = len(head) - 1
    widths = [max(len(str(x[i])) for x in (head, *lines)) for i in range(cols)]
    out = []
    for cells in (head, *lines):
        text = "  ".join(str(c).ljust(w) for c, w in zip(cells[:cols], widths, strict=True))
        out.append((text + "  " + cells[cols]).rstrip())
    return "\n".join(out)
