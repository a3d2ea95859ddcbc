import threading

import pytest
import torch

from collapsekit._threads import (
    factorization_threads,
    get_thread_policy,
    set_thread_policy,
    small_work_threads,
)


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_small_work_uses_one_thread_and_restores(two_threads):
    with small_work_threads(1e3):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with small_work_threads(1e12):
        assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), small_work_threads(1e3):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2  # restored after an exception too


def test_factorizations_and_policy_switch(two_threads):
    with factorization_threads("cpu"):
        assert torch.get_num_threads() == 1
    previous = set_thread_policy(small_work_flops=0, single_thread_factorizations=False)
    try:
        assert get_thread_policy() == {
            "small_work_flops": 0.0,
            "single_thread_factorizations": False,
            "numpy_float64": previous["numpy_float64"],
        }
        with small_work_threads(1.0), factorization_threads():
            assert torch.get_num_threads() == 2  # the caller's setting is left alone
    finally:
        set_thread_policy(**previous)
    assert get_thread_policy() == previous


def test_bad_threshold_names_the_argument():
    with pytest.raises(ValueError, match="small_work_flops: expected a number >= 0"):
        set_thread_policy(small_work_flops=-1)


def test_map_independent_equals_the_loop_and_restores_threads(two_threads):
    from collapsekit._threads import map_independent

    g = torch.Generator().manual_seed(0)
    mats = [(lambda a: a @ a.T)(torch.randn(40, 40, generator=g, dtype=torch.float64))] * 5
    seen = []

    def eig(m):
        seen.append(torch.get_num_threads())
        return torch.linalg.eigvalsh(m)

    got = map_independent(eig, mats)
    assert all(torch.equal(a, torch.linalg.eigvalsh(m)) for a, m in zip(got, mats, strict=True))
    assert seen == [1] * 5  # each call single-threaded
    assert torch.get_num_threads() == 2

    def boom(i):
        if i == 3:
            raise ValueError("item 3 is bad")
        return i

    with pytest.raises(ValueError, match="item 3 is bad"):
        map_independent(boom, range(6))
    assert torch.get_num_threads() == 2  # restored after an exception too
    assert map_independent(boom, []) == []
    previous = set_thread_policy(single_thread_factorizations=False)
    try:  # policy off: a plain loop with the caller's threads
        assert map_independent(lambda _: torch.get_num_threads(), range(3)) == [2, 2, 2]
    finally:
        set_thread_policy(**previous)


def test_nested_calls_share_the_workers_and_keep_order(two_threads):
    from collapsekit._threads import map_independent

    threads = set()

    def inner(i):
        threads.add(threading.get_ident())
        assert torch.get_num_threads() == 1
        return i * i

    def outer(i):
        return map_independent(inner, range(i, i + 5))  # runs in the same pool

    got = map_independent(outer, range(3))
    assert got == [[j * j for j in range(i, i + 5)] for i in range(3)]
    assert len(threads) <= 2  # the two workers, no nested pool
    assert torch.get_num_threads() == 2

    def failing_inner(i):
        if i == 7:
            raise ValueError("inner item 7 is bad")
        return i

    with pytest.raises(ValueError, match="inner item 7 is bad"):
        map_independent(lambda i: map_independent(failing_inner, range(i, i + 5)), range(4))
    assert torch.get_num_threads() == 2


def test_numpy_kernels_agree_with_torch_and_hold_blas_at_one_thread():
    from collapsekit import _linalg
    from collapsekit._threads import numpy_blas, numpy_float64_active, one_blas_thread

    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 40, generator=g, dtype=torch.float64)
    for rows in (True, False):
        want = x @ x.T if rows else x.T @ x
        assert torch.allclose(_linalg.gram(x, rows), want, rtol=1e-13, atol=1e-12)
    m = x.T @ x
    assert torch.allclose(_linalg.eigvalsh(m), torch.linalg.eigvalsh(m), rtol=1e-12, atol=1e-10)
    previous = set_thread_policy(numpy_float64=False)
    try:  # policy off: torch's kernels, bit for bit
        assert not numpy_float64_active()
        assert torch.equal(_linalg.eigvalsh(m), torch.linalg.eigvalsh(m))
    finally:
        set_thread_policy(**previous)
    controller = numpy_blas()
    if controller is None:
        pytest.skip("threadpoolctl is not installed: numpy's BLAS threads cannot be set")
    before = [lib["num_threads"] for lib in controller.info()]
    with one_blas_thread(), one_blas_thread():  # re-entrant
        assert all(lib["num_threads"] == 1 for lib in controller.info())
    assert [lib["num_threads"] for lib in controller.info()] == before
