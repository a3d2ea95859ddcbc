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
