"""The decode loop's reserved cache layer holds what concatenation would, past its room too."""

import torch

from glore.backends.decode import ReservedLayer


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
