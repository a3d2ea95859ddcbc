"""The row sample: the capacity smallest keys, in arrival order, whatever the batch split."""

import numpy as np
import pytest
import torch

from collapsekit.stats.row_reservoir import RowReservoir, row_keys


def _reference(n, capacity, seed=0, stream=0):
    keys = row_keys(seed, stream, 0, n).numpy()
    return np.sort(np.argsort(keys, kind="stable")[:capacity])  # positions, arrival order


@pytest.mark.parametrize("sizes", [[500], [1] * 40 + [460], [7, 93, 250, 150], [64] * 7 + [52]])
def test_sample_is_the_smallest_keys_in_arrival_order_for_any_split(sizes):
    n, capacity = sum(sizes), 60
    x = torch.arange(n, dtype=torch.float32)[:, None] * torch.ones(1, 3)
    y = torch.arange(n) % 7
    ref = x[:, :2] * 2
    res = RowReservoir(capacity, seed=0)
    lo = 0
    for size in sizes:
        res.update(x[lo : lo + size], y[lo : lo + size], ref[lo : lo + size])
        lo += size
    want = _reference(n, capacity)
    assert res.size == capacity and res.seen == n
    np.testing.assert_array_equal(res.rows[:, 0].numpy(), want)
    np.testing.assert_array_equal(res.labels.numpy(), want % 7)
    np.testing.assert_array_equal(res.reference[:, 0].numpy(), 2 * want)
    np.testing.assert_array_equal(res.keys.numpy(), row_keys(0, 0, 0, n).numpy()[want])


def test_merge_keeps_the_smallest_keys_of_the_union_this_sample_first():
    a, b = RowReservoir(50, seed=1, stream=0), RowReservoir(50, seed=1, stream=1)
    xa, xb = torch.arange(300.0)[:, None], 1000 + torch.arange(200.0)[:, None]
    for lo in range(0, 300, 70):
        a.update(xa[lo : lo + 70], torch.zeros(xa[lo : lo + 70].shape[0], dtype=torch.long))
    b.update(xb, torch.ones(200, dtype=torch.long))
    ka, kb = row_keys(1, 0, 0, 300).numpy(), row_keys(1, 1, 0, 200).numpy()
    union = np.concatenate([ka, kb])
    cut = np.sort(union)[49]
    a.merge(b)
    want = np.concatenate([np.arange(300)[ka <= cut], 1000 + np.arange(200)[kb <= cut]])
    np.testing.assert_array_equal(a.rows[:, 0].numpy(), want)
    assert a.seen == 500
    # a checkpoint restores the same sample, and it keeps streaming the same way
    again = RowReservoir(1)
    again.load_state_dict(a.state_dict())
    for r in (a, again):
        r.update(torch.full((30, 1), -1.0), torch.zeros(30, dtype=torch.long))
    assert torch.equal(a.rows, again.rows) and torch.equal(a.keys, again.keys)


def test_a_later_batch_of_another_dtype_is_held_in_the_first_ones():
    # the engine widens a float32 batch of 1e30-sized rows to float64 mid-stream
    res = RowReservoir(5, seed=0)
    res.update(torch.randn(3, 2), torch.zeros(3, dtype=torch.long))
    res.update(torch.randn(6, 2, dtype=torch.float64), torch.ones(6, dtype=torch.long))
    assert res.size == 5 and res.rows.dtype == torch.float32
