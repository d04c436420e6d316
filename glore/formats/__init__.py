"""The one language of training, serving and evaluation.

`FORMAT_VERSION` is recorded in every checkpoint; bump it when any prompt, the step
rules or the answer rules change, since a model trained on one version misreads another.
"""

from glore.formats.answers import answers_equal, format_answer, numbers_in, parse_number
from glore.formats.calc import (
    Annotation,
    check_annotation,
    find_annotations,
    step_value,
    strip_annotations,
)
from glore.formats.checks import (
    CHECKS,
    Check,
    StepCheck,
    check_steps,
    first_wrong,
    repair_step,
)
from glore.formats.equations import annotate
from glore.formats.exact import evaluate
from glore.formats.positions import Encoded, step_end_tokens
from glore.formats.prompts import (
    ROLES,
    Prompt,
    Role,
    global_prompt,
    local_prompt,
    rollout_prompt,
    scorer_prompt,
    student_prompt,
)
from glore.formats.solution import (
    ANSWER_MARKER,
    BAD_MARKER,
    Problem,
    Solution,
    parse_solution,
    split_steps,
)

FORMAT_VERSION = "1"

__all__ = [
    "ANSWER_MARKER",
    "BAD_MARKER",
    "CHECKS",
    "FORMAT_VERSION",
    "ROLES",
    "Annotation",
    "Check",
    "Encoded",
    "Problem",
    "Prompt",
    "Role",
    "Solution",
    "StepCheck",
    "annotate",
    "answers_equal",
    "check_annotation",
    "check_steps",
    "evaluate",
    "find_annotations",
    "first_wrong",
    "format_answer",
    "global_prompt",
    "local_prompt",
    "numbers_in",
    "parse_number",
    "parse_solution",
    "repair_step",
    "rollout_prompt",
    "scorer_prompt",
    "split_steps",
    "step_end_tokens",
    "step_value",
    "strip_annotations",
    "student_prompt",
]
