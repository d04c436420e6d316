"""The verifier base's block expansion (LLaMA Pro): the grown model starts as the student."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from glore.errors import ConfigError
from training.stages.verifier import expand_blocks


def _model(layers: int = 4) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("added", [1, 2, 4, 6])
def test_an_expanded_model_computes_what_the_original_did(added: int) -> None:
    model = _model()
    ids = torch.randint(3, 64, (2, 12))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        reference = model.generate(ids, max_new_tokens=6, do_sample=False)
        grown = expand_blocks(model, added)
        after = grown(input_ids=ids).logits
        again = grown.generate(ids, max_new_tokens=6, do_sample=False)  # through the KV cache
    assert grown.config.num_hidden_layers == len(grown.model.layers) == 4 + added
    assert [b.self_attn.layer_idx for b in grown.model.layers] == list(range(4 + added))
    assert torch.allclose(before, after, atol=1e-6)
    assert torch.equal(reference, again)


def test_new_blocks_follow_their_groups_and_start_silent() -> None:
    grown = expand_blocks(_model(), 2)
    silent = [not b.self_attn.o_proj.weight.any() for b in grown.model.layers]
    assert silent == [False, False, True, False, False, True]  # after blocks 2 and 4
    new = grown.model.layers[2]
    assert new.self_attn.q_proj.weight.any() and new.self_attn.q_proj.weight.requires_grad


@pytest.mark.parametrize("added", [0, 17])
def test_the_number_of_added_blocks_is_bounded(added: int) -> None:
    with pytest.raises(
        ConfigError, match=r"'verifier\.expand': add 1\.\.16 blocks to a student of 4"
    ):
        expand_blocks(_model(), added)
