"""Per-row sampling: counter-based draws, the distribution they sample, and rows that do
not see their batch-mates."""

import torch

from glore.backends.embedded.sampling import pick, row_key, uniforms


def test_draws_are_uniform_and_a_function_of_key_and_step() -> None:
    keys = torch.tensor([row_key(1, "p", s) for s in range(4000)])
    u = uniforms(keys, torch.zeros_like(keys))
    assert torch.equal(u, uniforms(keys, torch.zeros_like(keys)))
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.02 and abs(float((u < 0.1).float().mean()) - 0.1) < 0.02
    later = uniforms(keys, torch.ones_like(keys))
    assert float((u - later).abs().mean()) > 0.2  # the next step draws afresh
    assert row_key(1, "p", 0) == row_key(1, "p", 0) != row_key(1, "q", 0) != row_key(2, "p", 0)


def test_sampled_tokens_follow_the_distribution_and_top_p() -> None:
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])).repeat(4000, 1)
    u = uniforms(torch.tensor([row_key(0, "x", s) for s in range(4000)]), torch.zeros(4000).long())
    one, cut = torch.ones(4000), torch.full((4000,), 0.7)
    freq = torch.bincount(pick(logits, one, torch.ones(4000), u), minlength=4).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)
    kept = torch.bincount(pick(logits, one, cut, u), minlength=4).float() / 4000
    assert torch.allclose(kept, torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.03)
    assert torch.equal(pick(logits, torch.zeros(4000), cut, u), torch.zeros(4000).long())


def test_a_row_picks_the_same_token_whatever_its_batch_mates() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 50)
    u = torch.rand(6)
    temperature = torch.tensor([1.0, 0.0, 0.7, 1.0, 1.5, 1.0])
    top_p = torch.tensor([1.0, 1.0, 0.5, 0.9, 1.0, 1.0])
    together = pick(logits, temperature, top_p, u)
    for i in range(6):
        alone = pick(logits[i : i + 1], temperature[i : i + 1], top_p[i : i + 1], u[i : i + 1])
        assert int(alone) == int(together[i])
