"""The scheduler's decode computes what a plain forward pass computes: every logit it
samples from, for rows that share a prompt, rows of other prompts and rows joining
mid-decode (the slots' per-row lengths and masks), matches the model run on the row's
whole sequence at once (no cache), with grouped-query attention as well as without, through
the lean Llama step (`llama_step`, for Llama's and Qwen2's layers) and the model's own
forward."""

import threading
from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from glore.backends.base import SamplingParams
from glore.backends.embedded.scheduler import Scheduler


def _model(kind: str, kv_heads: int) -> Any:
    shape: dict[str, Any] = dict(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=256,
        attn_implementation="sdpa",
    )
    torch.manual_seed(kv_heads)
    if kind == "qwen2":  # biased q/k/v projections
        model: Any = Qwen2ForCausalLM(Qwen2Config(**shape))
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.k_proj.bias.normal_()
    elif kind == "llama3":  # rotary angles rescaled by frequency band
        rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0}
        rope |= {"low_freq_factor": 1.0, "high_freq_factor": 4.0}
        rope["original_max_position_embeddings"] = 16
        model = LlamaForCausalLM(LlamaConfig(**shape, rope_parameters=rope))
    else:
        model = LlamaForCausalLM(LlamaConfig(**shape))
    return model.eval()


CASES = [
    ("llama", 4, True),
    ("llama", 2, True),
    ("qwen2", 2, True),
    ("llama3", 4, True),
    ("llama", 2, False),
]


@pytest.mark.parametrize(("kind", "kv_heads", "lean"), CASES)
def test_every_sampled_logit_matches_a_plain_forward_pass(
    kind: str, kv_heads: int, lean: bool
) -> None:
    model = _model(kind, kv_heads)
    reference = _model(kind, kv_heads)  # the same weights, run without the scheduler
    s = Scheduler(model, eos_id=-1, context=256, max_rows=5, max_kv_tokens=10**6, lean_step=lean)
    assert (s.lean is not None) == lean
    seen: list[tuple[int, list[int], torch.Tensor]] = []
    lock = threading.Lock()
    sample = s._sample

    def recording(start: int, logits: torch.Tensor) -> None:
        with lock:
            for row, row_logits in zip(s._rows[start:], logits, strict=True):
                seq = row.request.ids[row.index // row.request.params.n] + row.out
                seen.append((id(row.request), seq, row_logits.clone()))
        sample(start, logits)

    s._sample = recording  # type: ignore[method-assign]
    params = SamplingParams(n=3, temperature=1.0, max_tokens=9, seed=1)
    first = s.submit([[1, 5, 9, 3, 7], [1, 2]], ["a", "b"], params)  # 6 rows > max_rows
    late = s.submit([[1, 8, 8, 8, 8, 8, 8, 4]], ["c"], SamplingParams(n=2, max_tokens=5))
    assert len(first.result(timeout=60)) == 6 and len(late.result(timeout=60)) == 2
    assert len(seen) == 6 * 9 + 2 * 5
    with torch.inference_mode():
        for _, seq, logits in seen:
            plain = reference(input_ids=torch.tensor([seq])).logits[0, -1]
            assert torch.allclose(logits, plain, atol=1e-5), (seq, (logits - plain).abs().max())
