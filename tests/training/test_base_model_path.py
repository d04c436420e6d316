"""The real-model path: a recipe names a Hugging Face causal LM on disk (here a second tiny
model the test saves, with a tokenizer that lacks `[BAD]` and a pad token) and trains it
with LoRA adapters, merged before saving."""

from pathlib import Path

import pytest
import yaml
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from glore.formats import BAD_MARKER
from glore.tasks.arith import ArithTask
from training.pipeline import run_stages
from training.recipe import load_recipe


def _base_model(folder: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [p.question + "\n" + p.solution.text for p in ArithTask().load("train", 200)]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    from tokenizers import decoders

    backend.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
    tok.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         bos_token_id=0, eos_token_id=1, max_position_embeddings=1024)  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)


@pytest.mark.parametrize("lora", [True, False])
def test_recipe_trains_a_base_model_from_disk(tmp_path: Path, lora: bool) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = tmp_path / "base"
    _base_model(base)
    recipe = {
        "model": {"base": str(base), **({"lora": {"r": 4, "alpha": 8}} if lora else {})},
        "student": {"problems": 64, "train": {"steps": 3, "batch_size": 4}},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    summaries = run_stages(load_recipe(path), out, ("tokenizer", "student"))
    assert summaries[1]["sft"]["steps"] == 3
    tok = AutoTokenizer.from_pretrained(out / "student" / "model")
    assert BAD_MARKER in tok.all_special_tokens and tok.pad_token is not None
    model = AutoModelForCausalLM.from_pretrained(out / "student" / "model")
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_lora_refiners_keep_their_adapters_for_vllm(tmp_path: Path) -> None:
    """With LoRA, `fit` saves the adapter before merging; the adapter on the untouched base
    gives the merged model's logits, and the export copies it to `adapters/ROLE`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.recipe import LoraSpec, TrainSpec
    from training.rundir import RunDir
    from training.sft import PadCollator, sft_examples
    from training.stages.export import export_adapters
    from training.trainer import fit

    base = tmp_path / "base"
    _base_model(base)
    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = tok.eos_token
    pairs = [(p.question + "\n", p.solution.text) for p in ArithTask().load("train", 8)]
    examples, _ = sft_examples(tok, pairs, 512)
    run = tmp_path / "run"
    lora = LoraSpec(r=4, alpha=8, dropout=0.0)
    merged, _ = fit(
        AutoModelForCausalLM.from_pretrained(base),
        examples,
        PadCollator(tok.pad_token_id),
        TrainSpec(steps=3, batch_size=4, lr=1e-2),
        run / "global",
        seed=0,
        lora=lora,
        adapter_dir=run / "global" / "adapter",
    )
    served = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base), run / "global" / "adapter"
    )
    ids = torch.tensor([tok(pairs[0][0] + pairs[0][1]).input_ids])
    with torch.no_grad():
        want = merged.eval()(input_ids=ids).logits
        got = served.eval()(input_ids=ids).logits
        untrained = AutoModelForCausalLM.from_pretrained(base)(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(untrained, want, atol=1e-3)  # the adapter learned something
    # vLLM refuses adapters with `modules_to_save` ("vLLM only supports modules_to_save being
    # None") or whole embedding / head weights: the refiners' adapters hold neither, since
    # they train on the student, whose embeddings already have `[BAD]`.
    import json

    from safetensors import safe_open

    adapter = run / "global" / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["modules_to_save"] is None
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "embed_tokens" in k or "lm_head" in k]  # noqa: SIM118
    store = tmp_path / "store"
    assert export_adapters(RunDir.existing(run), store) == {"global": "adapters/global"}
    assert (store / "adapters" / "global" / "adapter_config.json").is_file()
    (tmp_path / "no-lora-run").mkdir()  # a run whose refiners were fully fine-tuned
    assert export_adapters(RunDir.existing(tmp_path / "no-lora-run"), store) == {}
    assert not (store / "adapters").exists()
