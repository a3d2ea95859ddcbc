"""Per-class D x D scatter matrices, streamed: each class's own spectrum (per-class effective
rank) exactly, when K x D^2 float64 fits the memory budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit.stats._accumulator import check_mergeable, distributed_active
from collapsekit.stats._class_axis import global_class_means, remap_class_rows
from collapsekit.stats._gram import add_gram_
from collapsekit.stats._tensor_state import (
    check_scatter_diagonal,
    require_keys,
    state_check,
    state_tensor,
)
from collapsekit.stats._workspace import Workspace

#: classes with fewer rows than this in a batch are accumulated together (tensor ops), the
#: others one GEMM each
_LOOP_MIN_ROWS = 32


class PerClassScatter:
    """For each class c: n_c, a float32 shift s_c (its first batch's mean), the residual sum
    r_c and the residual scatter S_c = sum_{i in c} (h_i - s_c)(h_i - s_c)^T (float64).
    The class covariance is (S_c - r_c r_c^T / n_c) / n_c.

    Example:
        >>> import torch
        >>> s = PerClassScatter(num_classes=2, dim=2)
        >>> s.update(torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]]), torch.tensor([0, 0, 1]))
        >>> s.class_covariance(0).tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """

    def __init__(self, num_classes: int, dim: int, device: torch.device | None = None) -> None:
        dev = device or torch.device("cpu")
        self.num_classes, self.dim = num_classes, dim
        self.counts = torch.zeros(num_classes, dtype=torch.int64, device=dev)
        self.shift = torch.zeros(num_classes, dim, dtype=torch.float32, device=dev)
        self.resid_sum = torch.zeros(num_classes, dim, dtype=torch.float64, device=dev)
        self.scatter = torch.zeros(num_classes, dim, dim, dtype=torch.float64, device=dev)
        self._workspace = Workspace()

    @staticmethod
    def nbytes(num_classes: int, dim: int) -> int:
        """Memory of the state for ``num_classes`` classes of width ``dim``."""
        return num_classes * (dim * dim * 8 + dim * 12 + 8)

    def update(self, rows: torch.Tensor, labels: torch.Tensor) -> None:
        """Add validated rows with dense labels: the rows are gathered in class order into a
        buffer reused between batches, each class's segment shifted in place, summed and
        multiplied (no per-class copies). Residuals and products are float64 whatever the
        input, as in :class:`~collapsekit.stats.class_stats.ClassStats`: float32 products left
        a round-off floor in the tail of each class's spectrum, and the sums depended on the
        batch split."""
        order = torch.argsort(labels, stable=True)
        present, counts = torch.unique_consecutive(labels[order], return_counts=True)
        grouped = self._workspace.get("grouped", tuple(rows.shape), torch.float64, rows.device)
        if rows.dtype == torch.float64:
            torch.index_select(rows, 0, order, out=grouped)
        else:
            grouped.copy_(rows.index_select(0, order))
        small = counts < _LOOP_MIN_ROWS
        if bool(small.any()):
            self._update_small(grouped, present, counts, small)
        if bool(small.all()):
            return
        keep = ~small
        for c, e in zip(
            present[keep].tolist(),
            grouped[keep.repeat_interleave(counts)].split(counts[keep].tolist()),
            strict=True,
        ):
            if int(self.counts[c]) == 0:
                self.shift[c] = (e.sum(0) / e.shape[0]).float()
            e.sub_(self.shift[c].double())
            self.resid_sum[c] += e.sum(0)
            add_gram_(self.scatter[c], e)
            self.counts[c] += e.shape[0]

    def _update_small(
        self,
        grouped: torch.Tensor,
        present: torch.Tensor,
        counts: torch.Tensor,
        small: torch.Tensor,
    ) -> None:
        """The classes with few rows in this batch, all at once (a per-class loop costs a
        Python iteration per class: minutes for 10^5 classes): shifts, residual sums and
        float64 outer products scattered by class id, in row chunks of bounded memory."""
        rows_small = small.repeat_interleave(counts)
        e = grouped[rows_small]  # float64 (update's buffer)
        ids = present[small].repeat_interleave(counts[small])
        fresh = self.counts[present[small]] == 0
        if bool(fresh.any()):
            sums = torch.zeros_like(self.resid_sum).index_add_(0, ids, e)
            new = present[small][fresh]
            self.shift[new] = (sums[new] / counts[small][fresh, None].double()).float()
        e = e - self.shift[ids].double()
        self.resid_sum.index_add_(0, ids, e)
        step = max(1, (1 << 22) // (self.dim * self.dim))
        for lo in range(0, e.shape[0], step):
            part = e[lo : lo + step]
            self.scatter.index_add_(0, ids[lo : lo + step], part[:, :, None] * part[:, None, :])
        self.counts.index_add_(0, present[small], counts[small].to(self.counts.dtype))

    def class_covariance(self, c: int) -> torch.Tensor:
        """(1/n_c) sum_{i in c} (h_i - mu_c)(h_i - mu_c)^T, float64."""
        n = int(self.counts[c])
        if n == 0:
            raise ValueError(f"class {c}: no rows accumulated")
        r = self.resid_sum[c]
        return (self.scatter[c] - torch.outer(r, r) / n) / n

    def remap_classes(self, mapping: torch.Tensor, num_classes: int) -> PerClassScatter:
        for name in ("counts", "shift", "resid_sum", "scatter"):
            setattr(self, name, remap_class_rows(getattr(self, name), mapping, num_classes))
        self.num_classes = num_classes
        return self

    def _reshift(self, new_shift: torch.Tensor) -> None:
        delta = self.shift.double() - new_shift.double()
        delta[self.counts == 0] = 0.0
        # only the classes whose shift moves (K x D^2 temporaries for all would dominate a merge)
        moved = torch.nonzero(delta.ne(0).any(dim=1)).flatten()
        d = delta[moved]
        n = self.counts[moved].double()
        r = self.resid_sum[moved]
        cross = r[:, :, None] * d[:, None, :]
        cross += cross.transpose(1, 2).clone()
        cross += n[:, None, None] * (d[:, :, None] * d[:, None, :])
        self.scatter.index_add_(0, moved, cross)
        self.resid_sum = self.resid_sum.index_add(0, moved, n[:, None] * d)
        self.shift = new_shift.float().clone()

    def merge(self, other: PerClassScatter, mapping: torch.Tensor | None = None) -> PerClassScatter:
        """Add ``other``'s rows; exact re-shift. ``mapping[i]`` is the class id here of
        ``other``'s class ``i`` (``None``: the same ids, then the class counts must match).
        ``other`` is read, never copied or changed: the cost is one pass over its classes
        with rows (a copy and a validation of its K x D^2 scatters made a merge dearer than
        the pass that built them). Returns ``self``."""
        if mapping is None:
            check_mergeable(self, other, ("num_classes", "dim"))
            mapping = torch.arange(other.num_classes)
        else:
            check_mergeable(self, other, ("dim",))
        mapping = mapping.to(device=self.counts.device, dtype=torch.long)
        in_range = mapping.numel() == 0 or (
            int(mapping.min()) >= 0 and int(mapping.max()) < self.num_classes
        )
        if mapping.shape != (other.num_classes,) or not in_range:
            raise ValueError(
                f"mapping: expected {other.num_classes} class ids in [0, {self.num_classes}), "
                f"received shape {tuple(mapping.shape)}; pass one id here per class of other"
            )
        seen = torch.nonzero(other.counts > 0).flatten().to(self.counts.device)
        dst = mapping[seen]
        n = other.counts[seen].to(self.counts.device)
        theirs = other.shift[seen].to(self.shift.device)
        mine = self.counts[dst] > 0
        target = torch.where(mine[:, None], self.shift[dst], theirs)
        delta = theirs.double() - target.double()
        r = other.resid_sum[seen].to(self.resid_sum.device)
        if seen.numel() == other.num_classes:
            self.scatter.index_add_(0, dst, other.scatter.to(self.scatter.device))
        else:
            self.scatter.index_add_(0, dst, other.scatter[seen].to(self.scatter.device))
        # sum (h - t)(h - t)^T = S + r d^T + d r^T + n d d^T with d = s - t, for the classes
        # whose shift moves only (K x D^2 temporaries for all would dominate a merge)
        moved = torch.nonzero(delta.ne(0).any(dim=1)).flatten()
        d = delta[moved]
        u = r[moved] + 0.5 * n[moved].double()[:, None] * d  # u d^T + d u^T: one batched GEMM
        cross = torch.bmm(torch.stack([u, d], 2), torch.stack([d, u], 1))
        self.scatter.index_add_(0, dst[moved], cross)
        self.resid_sum.index_add_(0, dst, r + n.double()[:, None] * delta)
        self.shift[dst] = target
        self.counts.index_add_(0, dst, n)
        return self

    def all_reduce(self, group: Any = None) -> PerClassScatter:
        """Sum the state over torch.distributed processes around the global class means
        (exact); no-op when not initialised. Returns ``self``."""
        if not distributed_active():
            return self
        import torch.distributed as dist

        counts, target = global_class_means(self.counts, self.resid_sum, self.shift, group)
        self._reshift(target)
        dist.all_reduce(self.resid_sum, group=group)
        dist.all_reduce(self.scatter, group=group)
        self.counts = counts
        return self

    def state_dict(self) -> dict[str, Any]:
        """The tensors (cloned) ``counts``, ``shift``, ``resid_sum``, ``scatter``."""
        return {
            "counts": self.counts.clone(),
            "shift": self.shift.clone(),
            "resid_sum": self.resid_sum.clone(),
            "scatter": self.scatter.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, all or nothing: every key present, counts (K,)
        non-negative integers, shift and residual sums K x D, scatter K x D x D with a
        non-negative diagonal, all finite, and empty classes with zero sums. A ValueError
        names the first key at fault; nothing changes then."""
        require_keys(state, ("counts", "shift", "resid_sum", "scatter"), "PerClassScatter")
        counts = state_tensor(state, "counts", (None,), integer=True, nonnegative=True)
        k = counts.shape[0]
        shift = state_tensor(state, "shift", (k, None))
        d = shift.shape[1]
        resid = state_tensor(state, "resid_sum", (k, d))
        scatter = state_tensor(state, "scatter", (k, d, d))
        check_scatter_diagonal(scatter, "scatter")
        empty = counts == 0
        state_check(
            not bool(resid[empty].any()) and not bool(scatter[empty].any()),
            "resid_sum",
            "zero sums for the classes with no rows (counts 0)",
            f"non-zero sums for {int(empty.sum())} empty classes",
        )
        dev = self.counts.device
        self.counts, self.resid_sum, self.scatter = counts.to(dev), resid.to(dev), scatter.to(dev)
        self.shift = shift.to(dev, torch.float32)
        self.num_classes, self.dim = k, d
