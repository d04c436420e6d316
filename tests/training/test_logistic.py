"""The logistic head's fit: it separates what a linear rule separates."""

from __future__ import annotations

import torch

from training.logistic import fit_logistic


def test_the_logistic_head_separates_separable_data() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=gen)
    y = (x[:, 0] - 2 * x[:, 2] > 0.3).float()
    w = fit_logistic(x, y, l2=1e-4)
    assert w.shape == (5,)
    pred = (torch.cat([x, torch.ones(200, 1)], 1) @ w > 0).float()
    assert float((pred == y).float().mean()) > 0.97
