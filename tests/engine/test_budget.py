"""The Analyzer's memory budget: class state cost, growth and the per-class scatter budget."""

import pytest

import collapsekit.engine.budget as budget
from collapsekit.stats.class_scatter import PerClassScatter


def test_class_state_bytes_grows_with_classes_and_width():
    assert budget.class_state_bytes(2, 8) == 2 * budget.class_state_bytes(1, 8)
    assert budget.class_state_bytes(1, 16) > budget.class_state_bytes(1, 8)


def test_growth_doubles_unless_the_machine_is_too_small(monkeypatch):
    assert budget.grown_capacity(17, 16, 64, available=0) == 32  # unknown memory: doubled
    assert budget.grown_capacity(100, 16, 64, available=0) == 100  # beyond double: exactly k
    tight = 2 * budget.class_state_bytes(20, 64)  # 20 classes fit in half of it, 32 do not
    assert budget.grown_capacity(17, 16, 64, available=tight) == 17


def test_class_memory_over_half_the_machine_is_refused(monkeypatch):
    monkeypatch.setattr(budget, "physical_memory_bytes", lambda: 2**24)
    assert budget.check_class_memory(4, 64) == 2**24
    with pytest.raises(ValueError, match="labels: 20000 distinct classes x 64 features"):
        budget.check_class_memory(20_000, 64)


def test_per_class_budget_is_the_scatters_size():
    need = PerClassScatter.nbytes(10, 32)
    assert budget.per_class_fits(10, 32, need)
    assert not budget.per_class_fits(10, 32, need - 1)
    assert "raise max_memory_mb" in budget.per_class_budget_note(10, 32, need - 1)
