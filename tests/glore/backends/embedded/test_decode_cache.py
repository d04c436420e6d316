"""The decode loop's reserved cache layer holds what concatenation would, past its room too."""

import torch

from glore.backends.embedded.decode import ReservedLayer


def test_reserved_layer_matches_concatenation_and_grows() -> None:
    layer = ReservedLayer(capacity=5)
    steps = [torch.randn(3, 2, n, 4) for n in (4, 1, 1, 3, 1)]  # 10 positions > 5 reserved
    for i, k in enumerate(steps):
        keys, values = layer.update(k, -k)
        want = torch.cat(steps[: i + 1], dim=-2)
        assert torch.equal(keys, want) and torch.equal(values, -want)
    assert layer.get_seq_length() == 10
    layer.batch_select_indices(torch.tensor([2, 0]))
    want = torch.cat(steps, dim=-2)[[2, 0]]
    assert torch.equal(layer.keys, want) and torch.equal(layer.values, -want)
    keys, _ = layer.update(torch.ones(2, 2, 1, 4), torch.ones(2, 2, 1, 4))
    assert keys.shape == (2, 2, 11, 4) and torch.equal(keys[..., :10, :], want)


def test_prefill_in_passes_decodes_the_same_tokens(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from glore.backends.embedded import decode as decode_module
    from glore.formats import student_prompt
    from glore.modeling import new_causal_lm, train_tokenizer
    from glore.modeling.tokenizer import corpus_texts
    from glore.tasks.arith import ArithTask

    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 60)), vocab_size=300)
    model = new_causal_lm("nano", tok, seed=4).eval()
    prompts = [student_prompt(p.question).text for p in ArithTask().load("validation", 6)]
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")

    def run() -> torch.Tensor:
        return decode_module.decode(
            model,
            enc["input_ids"],
            enc["attention_mask"],
            max_new_tokens=12,
            eos_id=tok.eos_token_id,
            pad_id=tok.pad_token_id,
        )

    whole = run()
    monkeypatch.setattr(decode_module, "PREFILL_TOKENS", 1)  # one prompt per pass
    assert torch.equal(run(), whole)
