"""Every calculator annotation and every free-text equation of the GSM8K references,
train and test, through the exact step check: all `ok` or `unchecked`, except the named
errata below, each one read and classified by hand.

`slip`: the reference's arithmetic is wrong as written. `notation`: the reference means
something its text does not say (a percent without its x100, `14 / 1 / 4` for 14 / (1/4),
a running total written as a chain); a checker can only read what is written.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from glore.formats import check_steps, parse_solution

ERRATA: dict[tuple[str, int], str] = {
    ("gsm8k-train-167", 4): "slip: 192*100=$1920",
    ("gsm8k-train-168", 1): "slip: 6*2.5 = $18.00 (the annotation says 6*3)",
    ("gsm8k-train-198", 5): "slip: 6/3=.5 (3/6 meant)",
    ("gsm8k-train-224", 0): "slip: 4080 + 4080 / 2 = 4000 + 2040",
    ("gsm8k-train-502", 0): "slip: 3/1=1",
    ("gsm8k-train-716", 0): "slip: 100 * 0.75 = $0.75",
    ("gsm8k-train-3002", 0): "slip: 8*3 = 240 (the annotation says 80*3)",
    ("gsm8k-train-3233", 3): "slip: '.8 + . 84' (a stray space splits a decimal)",
    ("gsm8k-train-3334", 7): "slip: $4200+$3000 = $8600",
    ("gsm8k-train-3409", 1): "slip: 10 x .5 = 10",
    ("gsm8k-train-3520", 4): "notation: 20 minutes / 240 minutes = 8.333...% (no x100)",
    ("gsm8k-train-3859", 0): "notation: 5 * 3 = $15,000 (thousands left implicit)",
    ("gsm8k-train-4559", 1): "notation: 4 pounds - 6 ounces = 58 ounces (mixed units)",
    ("gsm8k-train-4593", 2): "notation: 14 / 1 / 4 for 14 / (1/4)",
    ("gsm8k-train-4691", 0): "slip: 2*8 = 24",
    ("gsm8k-train-4973", 0): "slip: 200*.55=100",
    ("gsm8k-train-5195", 0): "slip: 5 x 1/2 = 10 (5 / (1/2) meant)",
    ("gsm8k-train-5350", 2): "slip: 13 + 4 + 16 = 45",
    ("gsm8k-train-5396", 0): "notation: 'day 1 * 2 = 20' (10 * 2 meant)",
    ("gsm8k-train-5781", 2): "slip: 7+9+1+2 = $19.50 (1.50 written as 1)",
    ("gsm8k-train-6157", 4): "slip: 70 + 40 = 100",
    ("gsm8k-train-6256", 1): "slip: 10 x 1,248 = 11,480",
    ("gsm8k-train-6405", 4): "notation: 150 minutes / 5 minutes/100 meters (a rate)",
    ("gsm8k-train-6590", 2): "notation: 'Weeks 1-2 = 96 - 70' (a range as a label)",
    ("gsm8k-train-6700", 1): "slip: 2 / 12 = .125 (1.5 / 12 meant)",
    ("gsm8k-train-6713", 1): "slip: 3 x (8/16) = 6",
    ("gsm8k-train-6760", 3): "slip: 4+4+6 = 18",
    ("gsm8k-train-6812", 0): "slip: 50-8 = 44 (the annotation says 52-8)",
    ("gsm8k-train-6842", 0): "slip: 500/ 2/5 = 200 (500 x 2/5 meant)",
    ("gsm8k-train-6842", 1): "slip: 500/ 1/10 = 50 (500 x 1/10 meant)",
    ("gsm8k-train-7178", 3): "slip: 1152/ 1,536 = .5",
    ("gsm8k-train-7356", 1): "notation: 1 cheese +1 meat *+1 vegetable = 3",
    ("gsm8k-train-7444", 3): "slip: 14*20=140",
    ("gsm8k-test-410", 0): "notation: $3/2 = $1.50+$3.00=$4.50 (a running total)",
    ("gsm8k-test-1024", 4): "slip: $32 - $20 = $300",
}


def test_every_reference_equation_checks_ok_but_the_named_errata(shared_data: Path) -> None:
    wrong: dict[tuple[str, int], str] = {}
    counts: Counter[str] = Counter()
    for split in ("train", "test"):
        lines = (shared_data / "gsm8k" / f"{split}.jsonl").read_text(encoding="utf-8")
        for i, line in enumerate(lines.splitlines()):
            record = json.loads(line)
            steps = list(parse_solution(record["answer"]).steps)
            for j, check in enumerate(check_steps(record["question"], steps)):
                counts[check.check] += 1
                for eq in check.equations:
                    kind = "annotation" if eq.text.startswith("<<") else "text"
                    counts[f"{kind} {eq.check}"] += 1
                if check.check == "wrong":
                    wrong[(f"gsm8k-{split}-{i}", j)] = f"{check.equation} -> {check.expected}"
    assert wrong.keys() == ERRATA.keys(), {k: v for k, v in wrong.items() if k not in ERRATA}
    assert counts["annotation wrong"] == counts["annotation unchecked"] == 0
    # Most steps state something checkable: every annotation, and most free text.
    assert counts["annotation ok"] > 27_000 and counts["text ok"] > 25_000
    assert counts["ok"] > 2 * counts["unchecked"]
