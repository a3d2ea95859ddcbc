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
        }
        with small_work_threads(1.0), factorization_threads():
            assert torch.get_num_threads() == 2  # the caller's setting is left alone
    finally:
        set_thread_policy(**previous)
    assert get_thread_policy() == previous


def test_bad_threshold_names_the_argument():
    with pytest.raises(ValueError, match="small_work_flops: expected a number >= 0"):
        set_thread_policy(small_work_flops=-1)


def test_cpu_eigensolvers_agree_and_can_be_switched():
    from collapsekit._linalg import eigvalsh, set_cpu_eigensolver

    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 60, 60, generator=g, dtype=torch.float64)
    sym = a @ a.transpose(1, 2)
    by_numpy = eigvalsh(sym)
    previous = set_cpu_eigensolver("torch")
    try:
        by_torch = eigvalsh(sym)
    finally:
        set_cpu_eigensolver(previous)
    assert by_numpy.dtype == torch.float64 and by_numpy.shape == (3, 60)
    assert torch.allclose(by_numpy, by_torch, rtol=1e-12, atol=1e-10)
    assert torch.allclose(eigvalsh(sym[0].float()).double(), by_torch[0], rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="name: expected 'numpy' or 'torch'"):
        set_cpu_eigensolver("lapack")
