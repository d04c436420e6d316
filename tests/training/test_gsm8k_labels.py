"""The SORM label rule and the refinement pairs on real GSM8K solutions: the consistency
check reads GSM8K's calculator annotations, so a prefix whose result is wrong is not
verified by a rollout that reaches the answer without using that result.

The student is a stand-in that continues any prefix with the reference's remaining steps
(the right continuation after a right prefix, an inconsistent one after a slip)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from glore.backends.base import Completion, SamplingParams
from glore.formats import Problem, format_answer, numbers_in, step_value
from glore.labels.records import SampleRecord
from glore.labels.rollouts import roll_out, unique_jobs
from glore.labels.rules import group_prefixes, index_prefixes, sorm_labels
from glore.tasks.splits import HeldOutSplits
from tests.training.test_gsm8k_pipeline import gsm8k_folder
from training.refine_pairs import local_pairs


class ReferenceStudent:
    """Continues a rollout prompt of question Q after n steps with Q's reference steps n:."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        # Keyed as the prompt writes a question: its whitespace collapsed.
        self.steps = {
            " ".join(p.question.split()): list(p.solution.steps) for p in problems if p.solution
        }

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            head, _, written = prompt.partition("\nAnswer:\n")
            question = head.removeprefix("Question: ")
            n = len([line for line in written.split("\n") if line.strip()])
            text = "\n".join(self.steps[question][n:])
            out.append([Completion(text, 5, "stop")] * params.n)
        return out


def _slip(step: str) -> str | None:
    """The step with its annotation's result one higher, in the annotation and the text."""
    match = re.search(r"<<([^=<>]+)=([0-9.]+)>>([0-9.]+)", step)
    if match is None or match.group(2) != match.group(3) or "." in match.group(2):
        return None
    wrong = str(int(match.group(2)) + 1)
    return step[: match.start()] + f"<<{match.group(1)}={wrong}>>{wrong}" + step[match.end() :]


def _cases(problems: Sequence[Problem]) -> list[tuple[Problem, list[str]]]:
    """(problem, a wrong sample: step 1 with a slip, then the slipped result as the answer)
    where step 1's result is used later and the wrong one is not, so the check alone
    decides the slipped prefix's label."""
    cases = []
    for p in problems:
        steps = list(p.solution.steps) if p.solution else []
        wrong = _slip(steps[0]) if len(steps) >= 3 else None
        if wrong is None:
            continue
        later = [n for s in steps[1:] for n in numbers_in(s)]
        value = step_value(wrong)
        if step_value(steps[0]) in later and value not in later and value is not None:
            cases.append((p, [wrong, f"#### {format_answer(value)}"]))
    return cases


def test_consistency_check_on_gsm8k_annotations() -> None:
    problems = HeldOutSplits("gsm8k", gsm8k_folder()).load("train", 60)
    cases = _cases(problems)
    assert len(cases) >= 10
    samples = []
    for p, slipped in cases:
        assert p.solution is not None
        answer = format_answer(p.answer)
        samples.append(SampleRecord(p.id, p.question, answer, 0, list(p.solution.steps), True))
        samples.append(SampleRecord(p.id, p.question, answer, 1, slipped, False))
    jobs = unique_jobs([(s.qid, s.question, s.answer, s.steps) for s in samples])
    rows = roll_out(ReferenceStudent(problems), jobs, SamplingParams(n=2, max_tokens=64))
    first = {(r.qid, r.prefix[0]): r for r in rows if len(r.prefix) == 1}
    for (p, slipped), right_sample in zip(cases, samples[::2], strict=True):
        right, wrong = first[(p.id, right_sample.steps[0])], first[(p.id, slipped[0])]
        assert right.positive and all(right.consistent)
        # The reference's continuation reaches the answer, but not from the slipped value.
        assert all(wrong.correct) and not any(wrong.consistent) and not wrong.positive
    groups = group_prefixes(rows)
    labels = [sorm_labels(s, groups[s.qid]) for s in samples]
    assert all(set(x) == {1} for x in labels[::2]) and all(x == [0, 0] for x in labels[1::2])
    pairs = local_pairs(samples, index_prefixes(rows), 4, random.Random(0))
    assert {p.qid for p in pairs} == {p.id for p, _ in cases}
    assert all(p.first_error == 0 and p.draft[1].startswith("#### ") for p in pairs)
