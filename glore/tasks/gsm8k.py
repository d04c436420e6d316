"""GSM8K from its JSONL files: one `{"question", "answer"}` object a line.

The reference `answer` is a step-by-step solution whose last line is `#### N`. Calculator
annotations (`<<48/2=24>>`) stay in the text, as the models read and write them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glore.errors import DatasetError, InvalidInputError
from glore.formats import Problem, Solution, parse_solution

_FIELDS = ("question", "answer")
_EXPECTED = 'a JSON object {"question": str, "answer": str ending in a "#### N" line}'


class Gsm8kTask:
    """GSM8K read from `path`: a `.jsonl` file (one split, named by its stem, e.g. `test`)
    or a folder whose `*.jsonl` files are the splits (`train`, `test`)."""

    name = "gsm8k"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._files = _split_files(self.path)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self._files)

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        """The first `n` problems of `split` (all when None), in file order.

        Raises DatasetError naming the file and line of the first malformed record.
        """
        if split not in self._files:
            raise InvalidInputError(
                f"gsm8k has no split {split!r} in {self.path}; splits: {', '.join(self.splits)}"
            )
        if n is not None and n < 0:
            raise InvalidInputError(f"n must be None or >= 0, got {n}")
        path = self._files[split]
        problems: list[Problem] = []
        for index, line in enumerate(_record_lines(path)):
            if n is not None and len(problems) >= n:
                break
            problems.append(_parse_line(path, index + 1, line, f"gsm8k-{split}-{index}"))
        return problems


def _split_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {path.stem: path}
    if not path.is_dir():
        raise DatasetError(
            str(path), None, "no such file or folder; pass a GSM8K .jsonl file or a folder of them"
        )
    files = {p.stem: p for p in sorted(path.glob("*.jsonl")) if p.is_file()}
    if not files:
        raise DatasetError(str(path), None, "folder holds no *.jsonl split files")
    return files


def _record_lines(path: Path) -> list[str]:
    """The lines of `path` without trailing blank lines; a blank line before a record is an
    error, so no record is skipped unnoticed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(str(path), None, f"cannot read as UTF-8 text: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DatasetError(
                str(path),
                number,
                f"blank line; every line must be {_EXPECTED} (blank lines only "
                "allowed at the end of the file)",
            )
    return lines


def _parse_line(path: Path, number: int, line: str, problem_id: str) -> Problem:
    record = _decode(path, number, line)
    solution = _reference(path, number, record["answer"])
    assert solution.answer is not None
    return Problem(
        id=problem_id,
        question=record["question"].strip(),
        answer=solution.answer,
        solution=solution,
        source="gsm8k",
    )


def _decode(path: Path, number: int, line: str) -> dict[str, str]:
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            str(path), number, f"invalid JSON ({exc.msg}); expected {_EXPECTED}"
        ) from exc
    if not isinstance(record, dict):
        raise DatasetError(
            str(path), number, f"found a JSON {type(record).__name__}; expected {_EXPECTED}"
        )
    for key in _FIELDS:
        if key not in record:
            raise DatasetError(str(path), number, f"missing field {key!r}; expected {_EXPECTED}")
        value = record[key]
        if not isinstance(value, str) or not value.strip():
            raise DatasetError(
                str(path), number, f"field {key!r} is {value!r}; expected a non-empty string"
            )
    return {key: record[key] for key in _FIELDS}


def _reference(path: Path, number: int, text: str) -> Solution:
    solution = parse_solution(text)
    if solution.answer_source != "marker" or solution.answer is None:
        found = "a '####' line without a number" if "####" in text else "no '####' line"
        raise DatasetError(
            str(path), number, f"answer has {found}; expected a last line '#### N' (N a number)"
        )
    if solution.dropped_text:
        raise DatasetError(
            str(path), number, "answer has text after its '#### N' line; '#### N' must be last"
        )
    return solution
