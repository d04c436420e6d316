"""Which models the lean Llama step takes, and what it says of the others. Its logits
against a plain forward pass are checked through the scheduler in
`test_scheduler_logits.py`; its greedy text against the model's forward in
`test_embedded.py`."""

from typing import Any

import pytest
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from glore.backends.base import SamplingParams
from glore.backends.embedded.llama_step import LlamaStep, unsupported
from glore.backends.embedded.scheduler import Scheduler


def _llama(**changes: Any) -> LlamaForCausalLM:
    shape: dict[str, Any] = dict(
        vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1
    )
    shape["num_attention_heads"], shape["max_position_embeddings"] = 4, 64
    return LlamaForCausalLM(LlamaConfig(**(shape | changes))).eval()


def test_a_llama_model_is_supported() -> None:
    assert unsupported(_llama()) is None


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=4)), "model type 'gpt2'"),
        (_llama(hidden_act="gelu"), "activation 'gelu'"),
        (_llama(rope_parameters={"rope_type": "dynamic", "factor": 2.0}), "rotary type"),
    ],
)
def test_other_models_get_a_reason_and_the_scheduler_uses_their_forward(
    model: Any, reason: str
) -> None:
    said = unsupported(model)
    assert said is not None and reason in said
    with pytest.raises(ValueError, match="LlamaStep cannot run this model"):
        LlamaStep(model)
    s = Scheduler(model, eos_id=-1, context=64, max_rows=4, max_kv_tokens=10**4)
    assert s.lean is None
    rows = s.submit([[1, 2, 3]], ["p"], SamplingParams(n=2, max_tokens=4, seed=0)).result(60)
    assert [len(r) for r in rows] == [4, 4]


def test_lean_and_forward_steps_give_the_same_greedy_tokens() -> None:
    model = _llama(num_key_value_heads=2)
    params = SamplingParams(n=1, temperature=0.0, max_tokens=20)
    prompts = [[1, 5, 9], [1, 2, 3, 4, 5, 6, 7], [3]]
    out = {}
    for lean in (True, False):
        s = Scheduler(model, eos_id=-1, context=64, max_rows=4, max_kv_tokens=10**4, lean_step=lean)
        assert (s.lean is not None) == lean
        out[lean] = s.submit(prompts, ["a", "b", "c"], params).result(60)
    assert out[True] == out[False]
