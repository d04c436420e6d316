"""Continuous batching: one decode loop per model that rows join and leave at every step.

Requests queue in arrival order. Each loop iteration runs at most one prefill pass (whole
prompts up to `PREFILL_TOKENS` padded tokens, or the next chunk of one longer prompt), its
prompts' rows join the running rows, then one decode step runs for all of them. A row
leaves as soon as it ends (EOS or its own `max_tokens`), and its slot goes to the next
waiting row. Each prompt is prefilled once and its KV copied to its `n` rows.

Fairness: admission is strictly first come, first served (nothing overtakes the queue's
head), and every running row ends within its `max_tokens`, so every request is reached.
Caps: at most `max_rows` running rows and `rows x longest (prompt + max_tokens)` at most
`max_kv_tokens` positions; a prompt's samples may join in parts to fit (each part
prefilled anew), and one row that exceeds the KV cap alone still runs, alone.
A request whose future is cancelled (its caller left) leaves at the next step.

The loop runs on the process's compute lane (`glore.backends.embedded.lane`), one iteration
at a time between the lane's other work: every model's decode shares one thread.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import torch

from glore.backends.base import SamplingParams
from glore.backends.embedded.blocks import BlockCache
from glore.backends.embedded.lane import LANE, Lane
from glore.backends.embedded.llama_step import LlamaStep, unsupported
from glore.backends.embedded.sampling import pick, row_key, uniforms
from glore.backends.embedded.slots import SlotCache
from glore.errors import BackendError

PREFILL_TOKENS = 1024
"""Padded prompt tokens per prefill pass: a pass costs a few decode steps, so running rows
are never held up long by joiners."""


@dataclass
class _Request:
    ids: list[list[int]]
    texts: list[str]
    params: SamplingParams
    budgets: list[int]
    """New tokens per prompt: `max_tokens`, less where the context is shorter."""
    seed: int
    """`params.seed`, or one drawn from torch's generator at submission."""
    future: Future[list[list[int]]] = field(default_factory=Future)
    pieces: deque[tuple[int, int, int]] = field(default_factory=deque)
    """(prompt, first sample, samples) still to prefill; at most `max_rows` samples each."""
    tokens: list[list[int]] = field(default_factory=list)
    left: int = 0

    def need(self, prompt: int) -> int:
        return len(self.ids[prompt]) + self.budgets[prompt]


@dataclass
class _Row:
    request: _Request
    index: int
    """prompt * n + sample: where its tokens go in the request."""
    length: int
    key: int
    out: list[int] = field(default_factory=list)


@dataclass
class _Prefill:
    """One prefill in progress: several whole prompts in one pass, or one prompt in chunks."""

    pieces: list[tuple[_Request, tuple[int, int, int]]]
    cache: Any
    done: int = 0


class Scheduler:
    """Runs `submit`ted requests on `lane` (a `Driver` of it) while there is work."""

    def __init__(
        self,
        model: Any,
        *,
        eos_id: int,
        context: int,
        max_rows: int,
        max_kv_tokens: int,
        lean_step: bool = True,
        lane: Lane = LANE,
    ) -> None:
        if max_rows < 1 or max_kv_tokens < 1:
            raise ValueError("max_rows and max_kv_tokens must be >= 1")
        self.model, self.eos_id, self.context = model, eos_id, context
        self.max_rows, self.max_kv_tokens = max_rows, max_kv_tokens
        use_lean = lean_step and unsupported(model) is None
        self.lean = lane.call(lambda: LlamaStep(model)) if use_lean else None
        """The decode step written out over the model's weights (`llama_step`), where the
        model has Llama's layers; else (or with `lean_step=False`) the model's forward."""
        self.boolean_mask = getattr(model.config, "_attn_implementation", "sdpa") == "sdpa"
        """The slot cache's mask for the model's forward: boolean for SDPA, else additive."""
        self.lane = lane
        self._lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        self.active = False
        """From a submission to an idle scheduler until its loop finds nothing left to do."""
        self._rows: list[_Row] = []
        self._prefill: _Prefill | None = None
        self._cache: BlockCache | SlotCache | None = None
        """Blocks for the lean step (`blocks`: attention reads them contiguously), slots for
        the model's forward."""
        self.runs = 0
        """Times the loop started from idle (`active`): overlapping calls share a run (for tests and
        benchmarks, as are `steps`, the decode steps, and `row_steps`, the rows over them)."""
        self.steps = 0
        self.row_steps = 0

    def replica(self, *, lean_step: bool = True, lane: Lane = LANE) -> Scheduler:
        """A scheduler of its own over the same model and caps (for benchmarks and probes:
        the model's forward instead of the lean step, or another lane)."""
        return Scheduler(
            self.model,
            eos_id=self.eos_id,
            context=self.context,
            max_rows=self.max_rows,
            max_kv_tokens=self.max_kv_tokens,
            lean_step=lean_step,
            lane=lane,
        )

    def submit(
        self, ids: list[list[int]], texts: list[str], params: SamplingParams
    ) -> Future[list[list[int]]]:
        """New token ids of `params.n` rows per prompt, prompt by prompt."""
        for prompt in ids:
            if len(prompt) >= self.context:
                raise BackendError(
                    f"a prompt of {len(prompt)} tokens leaves no room to answer; "
                    f"the model's context is {self.context} tokens",
                    retryable=False,
                )
        budgets = [min(params.max_tokens, self.context - len(p)) for p in ids]
        seed = params.seed if params.seed is not None else int(torch.randint(0, 2**62, (1,)))
        req = _Request(ids, texts, params, budgets, seed)
        req.tokens = [[] for _ in range(len(ids) * params.n)]
        req.left = len(req.tokens)
        step = min(params.n, self.max_rows)
        for p in range(len(ids)):
            req.pieces.extend((p, s, min(step, params.n - s)) for s in range(0, params.n, step))
        with self._lock:
            if req.left:
                self._queue.append(req)
            else:
                req.future.set_result([])
            start = not self.active and bool(self._queue)
            if start:
                self.runs += 1
                self.active = True
        if start:
            self.lane.activate(self)
        return req.future

    def has_work(self) -> bool:
        with self._lock:
            return bool(self._queue or self._rows or self._prefill is not None)

    def abort(self, error: BaseException) -> None:
        """Fail every request queued or running (the loop itself broke)."""
        failure = error if isinstance(error, BackendError) else BackendError(f"generation: {error}")
        with self._lock:
            requests = [r.request for r in self._rows] + list(self._queue)
            self._queue.clear()
            self.active = False
        if self._prefill is not None:
            requests += [req for req, _ in self._prefill.pieces]
        self._rows, self._prefill = [], None
        for req in requests:
            _settle(req.future, failure)

    def step(self) -> bool:
        """One loop iteration (the lane's `Driver.step`): a prefill pass, then a decode step."""
        with torch.inference_mode():
            return self._iterate()

    def _iterate(self) -> bool:
        self._drop_gone()
        with self._lock:
            if not self._queue and not self._rows and self._prefill is None:
                # The slots stay for the next run: allocating them again would touch every
                # page anew, which costs more than a short call's decode on a CPU.
                self.active = False
                return False
        prefill = self._prefill or self._select()
        if prefill is not None and not _guarded(
            [r for r, _ in prefill.pieces], self._advance, prefill
        ):
            self._prefill = None
        if self._rows:
            _guarded(list({id(r.request): r.request for r in self._rows}.values()), self._step)
        return True

    def _drop_gone(self) -> None:
        """Rows and queued work of requests that are settled (failed) or cancelled."""
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].request.future.done():
                self._remove(i)
        with self._lock:
            self._queue = deque(r for r in self._queue if not r.future.done())

    def _select(self) -> _Prefill | None:
        """The next prompts to prefill, from the head of the queue, while rows and KV room
        allow (at least one piece when nothing runs, however large)."""
        chosen: list[tuple[_Request, tuple[int, int, int]]] = []
        rows = len(self._rows)
        window = max((r.request.need(r.index // r.request.params.n) for r in self._rows), default=0)
        longest = 0
        with self._lock:
            while self._queue:
                req = self._queue[0]
                prompt, first, count = req.pieces[0]
                size, wide = len(req.ids[prompt]), max(window, req.need(prompt))
                room = min(self.max_rows, self.max_kv_tokens // wide) - rows
                take = min(count, max(room, 0 if rows else 1))  # one row runs whatever it needs
                padded = max(longest, size) * (len(chosen) + 1)
                if take < 1 or (chosen and padded > PREFILL_TOKENS):
                    break
                if take < count:  # fill the free rows now; the rest of the samples wait
                    req.pieces[0] = (prompt, first + take, count - take)
                    req.pieces.appendleft((prompt, first, take))
                piece = req.pieces.popleft()
                chosen.append((req, piece))
                if not req.pieces:
                    self._queue.popleft()
                rows, window, longest = rows + piece[2], wide, max(longest, size)
                if padded >= PREFILL_TOKENS:
                    break
        if not chosen:
            return None
        from transformers import DynamicCache

        self._prefill = _Prefill(chosen, DynamicCache())
        return self._prefill

    def _advance(self, job: _Prefill) -> None:
        """One prefill pass; when the job's prompts are all in, their rows join."""
        prompts = [req.ids[piece[0]] for req, piece in job.pieces]
        device = self.model.device
        if len(prompts) == 1:  # one prompt, in chunks of PREFILL_TOKENS
            part = prompts[0][job.done : job.done + PREFILL_TOKENS]
            ids = torch.tensor([part], device=device)
            positions = torch.arange(job.done, job.done + len(part), device=device)[None, :]
            mask = None
            job.done += len(part)
        else:  # whole prompts, left-padded
            longest = max(len(p) for p in prompts)
            ids = torch.zeros((len(prompts), longest), dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for j, p in enumerate(prompts):
                ids[j, longest - len(p) :] = torch.tensor(p)
                mask[j, longest - len(p) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            job.done = longest
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            cache=job.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        if job.done >= max(len(p) for p in prompts):
            self._prefill = None
            self._join(job, out.logits[:, -1, :])

    def _join(self, job: _Prefill, logits: torch.Tensor) -> None:
        """Each prompt's KV into its rows' slots, and each row's first token."""
        if self._cache is None:
            layers = len(job.cache.layers)
            self._cache = BlockCache(layers) if self.lean is not None else SlotCache(layers)
        fresh: list[tuple[_Row, int]] = []
        for j, (req, (prompt, first, count)) in enumerate(job.pieces):
            if req.future.done():
                continue
            size = len(req.ids[prompt])
            for sample in range(first, first + count):
                key = row_key(req.seed, req.texts[prompt], sample)
                fresh.append((_Row(req, prompt * req.params.n + sample, size, key), j))
        if not fresh:
            return
        rows = len(self._rows) + len(fresh)
        need = max(r.request.need(r.index // r.request.params.n) for r, _ in fresh)
        room = min(self.context, 1 << (need - 1).bit_length())  # doubling: few regrowths
        slots = self._slots(rows, room)
        for row, j in fresh:
            self._cache.load(len(self._rows), job.cache, j, row.length, slots=slots, room=room)
            self._rows.append(row)
        start = len(self._rows) - len(fresh)
        self._sample(start, logits[torch.tensor([j for _, j in fresh], device=logits.device)])

    def _slots(self, rows: int, room: int) -> int:
        """Slots to reserve: room for the rows still queued as well, so that a call's rows,
        joining over several prefill passes, do not regrow (and copy) the cache each time;
        never more than `max_rows`, nor (beyond the running rows) `max_kv_tokens` positions."""
        demand = rows
        with self._lock:
            for req in self._queue:
                demand += sum(count for _, _, count in req.pieces)
                if demand >= self.max_rows:
                    break
        slots = min(self.max_rows, 1 << (demand - 1).bit_length())
        if slots * room > self.max_kv_tokens:
            slots = max(rows, self.max_kv_tokens // room)
        return slots

    def _step(self) -> None:
        """One decode step of every running row."""
        assert self._cache is not None
        device = self.model.device
        lengths = torch.tensor([r.length for r in self._rows], device=device)
        tokens = torch.tensor([[r.out[-1]] for r in self._rows], device=device)
        if isinstance(self._cache, BlockCache):
            assert self.lean is not None
            logits = self.lean(tokens[:, 0], lengths, self._cache, self._cache.step(lengths))
        else:
            out = self.model(
                input_ids=tokens,
                attention_mask=self._cache.step(lengths, self.boolean_mask),
                position_ids=lengths[:, None],
                cache=self._cache,
                use_cache=True,
            )
            logits = out.logits[:, -1, :]
        self.steps += 1
        self.row_steps += len(self._rows)
        for row in self._rows:
            row.length += 1
        self._sample(0, logits)

    def _sample(self, start: int, logits: torch.Tensor) -> None:
        """The next token of rows `start:` from their logits; rows that end leave."""
        rows = self._rows[start:]
        params = [r.request.params for r in rows]
        if all(p.greedy for p in params):  # what `pick` gives, without the draws
            picked = logits.argmax(dim=-1).tolist()
        else:
            device = logits.device
            temperature = torch.tensor([p.temperature for p in params], device=device)
            top_p = torch.tensor([p.top_p for p in params], device=device)
            keys = torch.tensor([r.key for r in rows], device=device)
            steps = torch.tensor([len(r.out) for r in rows], device=device)
            picked = pick(logits, temperature, top_p, uniforms(keys, steps)).tolist()
        for i in range(len(rows) - 1, -1, -1):
            row = rows[i]
            row.out.append(picked[i])
            budget = row.request.budgets[row.index // row.request.params.n]
            if picked[i] == self.eos_id or len(row.out) >= budget:
                self._finish(start + i)

    def _finish(self, i: int) -> None:
        row = self._rows[i]
        req = row.request
        req.tokens[row.index] = row.out
        req.left -= 1
        self._remove(i)
        if req.left == 0:
            _settle(req.future, req.tokens)

    def _remove(self, i: int) -> None:
        """Row i leaves; the last row takes its slot."""
        last = len(self._rows) - 1
        if i != last:
            assert self._cache is not None
            self._cache.move(last, i, self._rows[last].length)
            self._rows[i] = self._rows[last]
        self._rows.pop()


def _guarded(requests: list[_Request], work: Any, *args: Any) -> bool:
    """Run `work`; if it fails, so do `requests` (they leave at the next iteration)."""
    try:
        work(*args)
    except Exception as exc:  # one bad batch must not stop the loop for later requests
        error = exc if isinstance(exc, BackendError) else BackendError(f"generation: {exc}")
        for req in requests:
            _settle(req.future, error)
        return False
    return True


def _settle(future: Future[list[list[int]]], result: list[list[int]] | BaseException) -> None:
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled or failed meanwhile: its caller has gone
        pass
