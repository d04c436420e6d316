"""Tiny base models the training tests build and save themselves (nothing is downloaded):
a byte-level BPE tokenizer trained on the texts given, a Llama or Qwen2 causal LM of a few
hundred thousand parameters, and the same Llama written as a GGUF file with `gguf`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL = ("<s>", "</s>")
SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}


def tokenizer(texts: Sequence[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE with `<s>`/`</s>` and no pad token or `[BAD]` (the tokenizer stage
    adds them, as to a real base model's)."""
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast: Any = PreTrainedTokenizerFast
    return fast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")


def causal_lm(arch: str, vocab: int, seed: int = 0) -> Any:
    """A freshly initialised `llama` or `qwen2` model with untied output weights."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    classes = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
    config_cls, model_cls = classes[arch]
    config = config_cls(
        vocab_size=vocab, bos_token_id=0, eos_token_id=1, tie_word_embeddings=False, **SIZES
    )
    torch.manual_seed(seed)
    return model_cls(config).eval()


def save_base(folder: Path, arch: str, texts: Sequence[str], vocab_size: int = 400) -> Path:
    """A Hugging Face base model folder (weights, config, tokenizer) of `arch`."""
    tok = tokenizer(texts, vocab_size)
    causal_lm(arch, len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _permute(weights: Any, heads: int) -> Any:
    """llama.cpp's order of the rotary halves in q and k (transformers undoes it on load)."""
    shape = weights.shape
    return (
        weights.reshape(heads, 2, shape[0] // heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def write_gguf(path: Path, model: Any, tok: Any) -> None:
    """`model` (a Llama from `causal_lm`) and `tok` as a float32 GGUF file, named and laid
    out as llama.cpp's converter writes them."""
    import gguf

    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    spec = json.loads(tok.backend_tokenizer.to_str())["model"]
    tokens = [t for t, _ in sorted(spec["vocab"].items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in SPECIAL else 1 for t in tokens])  # 3: control tokens
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["merges"]])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    for name, array in _gguf_tensors(model).items():
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _gguf_tensors(model: Any) -> dict[str, Any]:
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    c = model.config
    out = {
        "token_embd.weight": sd["model.embed_tokens.weight"],
        "output_norm.weight": sd["model.norm.weight"],
        "output.weight": sd["lm_head.weight"],
    }
    names = {
        "attn_norm": "input_layernorm",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        for short, long in names.items():
            out[f"blk.{i}.{short}.weight"] = sd[f"{p}{long}.weight"]
        q, k = sd[f"{p}self_attn.q_proj.weight"], sd[f"{p}self_attn.k_proj.weight"]
        out[f"blk.{i}.attn_q.weight"] = _permute(q, c.num_attention_heads)
        out[f"blk.{i}.attn_k.weight"] = _permute(k, c.num_key_value_heads)
    return out
