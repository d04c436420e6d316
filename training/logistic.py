"""An L2-penalised logistic regression, fitted by L-BFGS: the likelihood ORM's head
(`training.stages.likelihood`) and the evaluation probes' heads."""

from __future__ import annotations

import torch

from glore.backends.embedded.lane import on_lane


@on_lane  # on the compute lane, as every training run (training.trainer.fit)
def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float, bias: bool = True) -> torch.Tensor:
    """Weights (with the bias last when `bias`) of an L2-penalised logistic regression."""
    if bias:
        x = torch.cat([x, torch.ones(len(x), 1)], dim=1)
    w = torch.zeros(x.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, y)
        loss = loss + l2 * (w[:-1] if bias else w).square().sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    return w.detach()
