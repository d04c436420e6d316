"""The run's report as markdown, and its plots as PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def refine_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| strategy | accuracy % (95% CI) | vs greedy, pts (95% CI) | fix % | break % "
        "| tokens/q | s/q |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lo, hi = r["ci95"]
        dlo, dhi = r["delta_ci95"]
        lines.append(
            f"| {r['row']} | {_pct(r['accuracy'])} ({_pct(lo)}-{_pct(hi)}) "
            f"| {100 * r['delta_vs_greedy']:+.1f} ({100 * dlo:+.1f} to {100 * dhi:+.1f}) "
            f"| {_pct(r['fix_rate'])} | {_pct(r['break_rate'])} "
            f"| {r['tokens_per_question']:.0f} | {r['seconds_per_question']:.3f} |"
        )
    if "overlap" in report:
        o = report["overlap"]
        lines += [
            "",
            f"Of {o['wrong_drafts']} wrong drafts, the global candidate is right on "
            f"{o['global_fixes']}, the local one on {o['local_fixes']}, both on {o['both']}, "
            f"either on {o['either']} (before the ORM reranks).",
        ]
    rank = report.get("ranking")
    if rank and rank["right_above_wrong"] is not None:
        lines += [
            "",
            f"Within one question, the ORM scores the right candidate above the wrong one in "
            f"{_pct(rank['right_above_wrong'])}% of {rank['pairs']} (right, wrong) pairs of "
            "the glore row (50% is chance; reranking helps only above it).",
        ]
    lines += _abstention(report.get("abstention"))
    checked = report.get("checked")
    if checked:
        lines += [
            "",
            f"The exact step check finds wrong arithmetic in {checked['wrong_caught']} of "
            f"{checked['wrong_drafts']} wrong drafts, and in {checked['right_flagged']} of "
            f"{checked['right_drafts']} right drafts (a slip that did not change the answer).",
        ]
    return lines


def _abstention(data: dict[str, Any] | None) -> list[str]:
    """The glore row's coverage against accuracy when it abstains below each threshold."""
    if not data:
        return []
    shown = [p for p in data["curve"] if round(p["threshold"] * 100) % 10 == 0]
    at = data["at_threshold"]
    return [
        "",
        "Abstention (the glore row answers only when the ORM scores its answer at least the "
        f"threshold; the store's threshold is {data['threshold']:.2f}, answering "
        f"{_pct(at['coverage'])}% at {_pct(at['accuracy'])}%):",
        "",
        "| threshold | " + " | ".join(f"{p['threshold']:.1f}" for p in shown) + " |",
        "|---|" + "---|" * len(shown),
        "| answered % | " + " | ".join(_pct(p["coverage"]) for p in shown) + " |",
        "| accuracy of answered % | " + " | ".join(_pct(p["accuracy"]) for p in shown) + " |",
    ]


def reward_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| model | labels | steps | accuracy % | AUROC | final acc % | final AUROC "
        "| first-error P % | R % | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, by_source in report["models"].items():
        for source, m in by_source.items():
            mid, fin, loc = m["intermediate"], m["final"], m["first_error"]
            lines.append(
                f"| {name} | {source} | {mid['steps']} | {_pct(mid['accuracy'])} "
                f"| {_num(mid['auroc'])} | {_pct(fin['accuracy'])} | {_num(fin['auroc'])} "
                f"| {_pct(loc['precision'])} | {_pct(loc['recall'])} | {_num(m['ece'])} |"
            )
    for source, d in (report.get("sorm_minus_orm") or {}).items():
        if d is not None:
            lines.append(
                f"\nSORM minus ORM step accuracy on intermediate steps ({source} labels): "
                f"{100 * d['delta']:+.1f} pts (95% CI {100 * d['low']:+.1f} to "
                f"{100 * d['high']:+.1f}), paired by step."
            )
    agree = report.get("agreement")
    if agree:
        lines += [
            "",
            f"Rollout labels (K={report['k_eval']}) agree with the exact labels on "
            f"{_pct(agree['agreement'])}% of {agree['steps']} intermediate steps "
            f"({agree['rollout_good_exact_bad']} called good that are wrong, "
            f"{agree['rollout_bad_exact_good']} called bad that are right).",
        ]
    return lines


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    out = [
        f"# GLoRe evaluation: {meta['task']}",
        "",
        f"Store `{meta['store']}` (manifest sha256 `{meta['store_hash'][:12]}`), "
        f"glore {meta['glore_version']}, seed {meta['seed']}, "
        f"{meta['seconds']:.0f} s on {meta['machine']}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Rerank margin and floor of `glore`, `glore_gated`, `glore_vote` and `glore_checked`: "
        f"{meta.get('rerank_margin', 0.0):.2f} and {meta.get('rerank_floor', 0.0):.2f} (the "
        "engine's default: the store's, chosen on validation by `glore calibrate`; a "
        "refinement replaces the draft only when its ORM score beats the draft's by more than "
        "the margin and is at least the floor). The paper's comparison rows and "
        "`glore_argmax` rerank by the plain argmax (margin and floor 0). The `_checked` rows "
        "(not the paper's) let an exact check of each step's arithmetic drop candidates "
        "with a wrong step before the ORM ranks; `glore_checked` also sends the local "
        "refiner to the first wrong arithmetic (`where: checked`).",
    ]
    if "reward" in data:
        r = data["reward"]
        out += [
            "",
            "## Reward models",
            "",
            f"{r['samples']} temperature-1 student samples of {r['questions']} questions "
            f"({_pct(r['sample_accuracy'])}% right); step labels from K={r['k_eval']} "
            f"rollouts per prefix; threshold {r['tau']}. Accuracy and AUROC on intermediate "
            "steps; final = the last step; P/R = first-error localisation.",
            "",
            *reward_table(r),
            "",
            "![reliability](reliability.png)",
        ]
    if "refine" in data:
        out += [
            "",
            "## Refinement",
            "",
            f"{data['refine']['questions']} questions; fix = right on questions whose greedy "
            "draft is wrong; break = wrong where the draft is right.",
            "",
            *refine_table(data["refine"]),
            "",
            "![accuracy against tokens](accuracy_tokens.png)",
        ]
    return "\n".join(out) + "\n"


def plots(data: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if "reward" in data:
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
        for name, by_source in data["reward"]["models"].items():
            bins = by_source["rollout"]["reliability"]
            ax.plot([b["mean_prob"] for b in bins], [b["observed"] for b in bins], "o-", label=name)
        ax.set(xlabel="predicted value", ylabel="observed rate (rollout labels)")
        ax.set_title("Reliability: every step")
        ax.legend()
        fig.savefig(out / "reliability.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append("reliability.png")
    if "refine" in data:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for r in data["refine"]["rows"]:
            lo, hi = r["ci95"]
            acc = 100 * r["accuracy"]
            err = [[acc - 100 * lo], [100 * hi - acc]]
            ax.errorbar(r["tokens_per_question"], acc, yerr=err, fmt="o", capsize=3)
            ax.annotate(
                r["row"],
                (r["tokens_per_question"], acc),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set(xlabel="tokens generated per question", ylabel="accuracy % (95% CI)")
        ax.set_title(data["meta"]["task"])
        fig.savefig(out / "accuracy_tokens.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append("accuracy_tokens.png")
    return written
