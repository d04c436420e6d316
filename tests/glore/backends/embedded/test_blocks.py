"""The block cache holds what a dense cache holds and attends as SDPA over it does: rows of
different lengths crossing block boundaries, prompts loaded at lengths that fill whole
blocks and that do not, rows moved when another leaves, grouped-query heads. The
scheduler's decode through it is checked against a plain forward pass in
`test_scheduler_logits.py`."""

from types import SimpleNamespace

import pytest
import torch
from torch.nn import functional as nnf

from glore.backends.embedded.blocks import BLOCK, GATHER_ROWS, BlockCache, blocks_for


def _prompt_cache(keys: torch.Tensor, values: torch.Tensor) -> SimpleNamespace:
    """A one-layer left-padded prefill cache, as the scheduler's prefill hands it over."""
    return SimpleNamespace(layers=[SimpleNamespace(keys=keys, values=values)])


def _dense_attention(
    q: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor], heads: int
) -> torch.Tensor:
    """Each row's query over its own `[kv_heads, length, dim]` keys and values, by SDPA."""
    out = []
    for r, (k, v) in enumerate(zip(keys, values, strict=True)):
        g = heads // k.shape[0]
        k_all, v_all = k.repeat_interleave(g, dim=0), v.repeat_interleave(g, dim=0)
        out.append(nnf.scaled_dot_product_attention(q[r][:, None], k_all, v_all).reshape(-1))
    return torch.stack(out)


@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("rows", [GATHER_ROWS + 1, GATHER_ROWS])  # by block; gathered
def test_attention_over_blocks_matches_dense_attention(kv_heads: int, rows: int) -> None:
    torch.manual_seed(kv_heads)
    heads, dim = 4, 8
    lengths = [3 * BLOCK + 5, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK][:rows]
    width = max(lengths)
    prompt_k = torch.randn(len(lengths), kv_heads, width, dim)
    prompt_v = torch.randn(len(lengths), kv_heads, width, dim)
    cache = BlockCache(1)
    room = 4 * BLOCK
    for slot, n in enumerate(lengths):  # each row's last n positions, as left-padded
        cache.load(slot, _prompt_cache(prompt_k, prompt_v), slot, n, slots=8, room=room)
    keys = [prompt_k[r, :, width - n :] for r, n in enumerate(lengths)]
    values = [prompt_v[r, :, width - n :] for r, n in enumerate(lengths)]
    for _ in range(3):  # decode steps: each row writes at its length, then attends
        at = torch.tensor(lengths)
        bias = cache.step(at)
        assert bias.shape == (len(lengths), 1, blocks_for(max(lengths) + 1) * BLOCK)
        new_k, new_v = (torch.randn(len(lengths), kv_heads, dim) for _ in range(2))
        q = torch.randn(len(lengths), heads, dim)
        layer = cache.layers[0]
        layer.write(new_k, new_v, cache.at)
        got = layer.attend(q, bias, dim**-0.5)
        keys = [torch.cat([k, new_k[r][:, None]], dim=1) for r, k in enumerate(keys)]
        values = [torch.cat([v, new_v[r][:, None]], dim=1) for r, v in enumerate(values)]
        torch.testing.assert_close(got, _dense_attention(q, keys, values, heads))
        lengths = [n + 1 for n in lengths]


def test_a_moved_row_keeps_its_positions_and_reserve_keeps_what_is_there() -> None:
    torch.manual_seed(0)
    cache = BlockCache(1)
    k, v = torch.randn(2, 2, BLOCK + 3, 4), torch.randn(2, 2, BLOCK + 3, 4)
    cache.load(0, _prompt_cache(k, v), 0, BLOCK + 3, slots=2, room=2 * BLOCK)
    cache.load(1, _prompt_cache(k, v), 1, BLOCK + 3, slots=2, room=2 * BLOCK)
    layer = cache.layers[0]
    before = layer.k.clone()
    cache.load(2, _prompt_cache(k, v), 0, 5, slots=4, room=8 * BLOCK)  # grows both ways
    assert layer.k.shape[:2] == (8, 4)
    torch.testing.assert_close(layer.k[:2, :2], before)
    cache.move(1, 0, BLOCK + 3)  # row 0 leaves; row 1 takes its slot
    row = layer.k[:2, 0].transpose(0, 1).reshape(2, 2 * BLOCK, 4)[:, : BLOCK + 3]
    torch.testing.assert_close(row, k[1])
