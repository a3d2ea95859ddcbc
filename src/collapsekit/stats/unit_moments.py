"""Streamed sums of L2-normalised rows: the spread of directions (std of normalised rows)
and, per class, the sums of unit vectors that make the cosine silhouette streamable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit.stats._accumulator import check_mergeable, distributed_active
from collapsekit.stats._class_axis import remap_class_rows
from collapsekit.stats._tensor_state import require_keys, state_check, state_count, state_tensor
from collapsekit.stats._workspace import Workspace


def _moved(
    dev_sum: torch.Tensor, dev_sq_sum: torch.Tensor, n: int, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The column sums and sums of squares of ``n`` deviations ``u - s`` moved to ``u - s'``,
    ``delta = s - s'`` (``u - s' = (u - s) + delta``): exact algebra, no pass over rows."""
    return dev_sum + n * delta, dev_sq_sum + (2.0 * delta * dev_sum + n * delta.square())


class UnitVectorMoments:
    """Sums of unit rows u_i = h_i / ||h_i||, overall (around a shift, for the std of
    normalised rows) and per class (for the cosine silhouette). Zero rows stay zero vectors and
    are counted in ``zero_rows``.

    Memory: K x D + 3 D float64. ``rows`` must be validated floats, ``labels`` dense ids.

    Example:
        >>> import torch
        >>> m = UnitVectorMoments(num_classes=2, dim=2)
        >>> m.update(torch.tensor([[2.0, 0.0], [0.0, 3.0]]), torch.tensor([0, 1]))
        >>> m.class_unit_sums.tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        device: torch.device | None = None,
        precision: str = "float64",
    ) -> None:
        dev = device or torch.device("cpu")
        #: ``"float32"``: unit rows of float32 input formed in float32 (their sums stay
        #: float64); about 1e-8 relative between batch splits instead of 1e-15
        self.precision = precision
        self.num_classes, self.dim = num_classes, dim
        self.class_unit_sums = torch.zeros(num_classes, dim, dtype=torch.float64, device=dev)
        self.shift = torch.zeros(dim, dtype=torch.float64, device=dev)
        self.dev_sum = torch.zeros(dim, dtype=torch.float64, device=dev)
        self.dev_sq_sum = torch.zeros(dim, dtype=torch.float64, device=dev)
        # row counts live beside the sums (on their device): updating them reads nothing back
        # to the host; ``n`` and ``zero_rows`` read them
        self._counts = torch.zeros(2, dtype=torch.int64, device=dev)
        self._shift_set = False
        self._workspace = Workspace()

    @property
    def n(self) -> int:
        """Rows added (a host read of the device-side count)."""
        return int(self._counts[0])

    @n.setter
    def n(self, value: int) -> None:
        self._counts = self._counts.clone()
        self._counts[0] = int(value)
        self._shift_set = int(value) > 0

    @property
    def zero_rows(self) -> int:
        """All-zero rows added (they have no direction and stay zero vectors)."""
        return int(self._counts[1])

    @zero_rows.setter
    def zero_rows(self, value: int) -> None:
        self._counts = self._counts.clone()
        self._counts[1] = int(value)

    def update(
        self,
        rows: torch.Tensor,
        labels: torch.Tensor,
        chunk: int = 16384,
        keep: torch.Tensor | None = None,
    ) -> None:
        """Add validated rows, in float64 whatever their dtype: each unit row is then the
        same numbers however the rows are batched, so the sums agree across batch splits and
        merges to float64 summation order (float32 unit rows and per-chunk float32 sums moved
        the std of normalised rows by ~1e-9 and the silhouette by ~1e-8 between splits).

        Per chunk: the row norms, the shifted unit rows ``x / ||x|| - s`` in one fused pass
        (into a buffer reused between batches), their column sums and sums of squares, and the
        per-class sums of unit rows by class segment (``embedding_bag`` weighted by
        ``1 / ||x||``: no unit-row copy, no N x D scatter). ``keep`` (N, bool; the rows left
        out must be zero) leaves rows out without reading anything back to the host.
        """
        work = torch.float32 if self.precision == "float32" else torch.float64
        for lo in range(0, rows.shape[0], chunk):
            x = rows[lo : lo + chunk].to(torch.promote_types(work, rows.dtype))
            yc = labels[lo : lo + chunk]
            kc = None if keep is None else keep[lo : lo + chunk]
            m = x.shape[0]
            inv = torch.linalg.vector_norm(x, dim=1)
            if kc is None and x.dtype == torch.float32 and not bool(torch.isfinite(inv).all()):
                x = x.double()  # float32 rows near 2^60 overflow their float32 norm
                inv = torch.linalg.vector_norm(x, dim=1)
            zero = inv == 0
            inv.reciprocal_().masked_fill_(zero, 0.0)  # a zero row stays a zero vector
            if not self._shift_set:
                self.shift = torch.mv(x.T, inv).double() / m
                self._shift_set = True
            dev = self._workspace.get("dev", (m, self.dim), x.dtype, x.device)
            # unit rows minus the shift: centred values, summed without cancellation
            torch.addcmul(-self.shift.to(x.dtype), x, inv[:, None], out=dev)
            if kc is not None:  # rows left out: no deviation
                dev.masked_fill_(~kc[:, None], 0.0)
            # column sums in the rows' dtype (torch's cascade sum; ``sum(dtype=float64)`` of
            # float32 rows takes a path about 10x slower), added to the float64 state
            self.dev_sum += dev.sum(0)
            self.dev_sq_sum += dev.square_().sum(0)
            sorted_y, order = torch.sort(yc, stable=True)
            present, counts = torch.unique_consecutive(sorted_y, return_counts=True)
            partial = torch.nn.functional.embedding_bag(
                order, x, counts.cumsum(0) - counts, mode="sum", per_sample_weights=inv[order]
            )
            self.class_unit_sums.index_add_(0, present, partial.to(torch.float64))
            if kc is None:
                self._counts[0] += m
                self._counts[1] += zero.sum()
            else:
                self._counts += torch.stack([kc.sum(), (zero & kc).sum()])

    def _reshift(self, new_shift: torch.Tensor) -> None:
        self.dev_sum, self.dev_sq_sum = _moved(
            self.dev_sum, self.dev_sq_sum, self.n, self.shift - new_shift
        )
        self.shift = new_shift.clone()

    def remap_classes(self, mapping: torch.Tensor, num_classes: int) -> UnitVectorMoments:
        self.class_unit_sums = remap_class_rows(self.class_unit_sums, mapping, num_classes)
        self.num_classes = num_classes
        return self

    def merge(self, other: UnitVectorMoments) -> UnitVectorMoments:
        """Add ``other``'s rows (same class ids and dim); exact re-shift."""
        check_mergeable(self, other, ("num_classes", "dim"))
        n = other.n
        if n == 0:
            return self
        dev = self.shift.device
        if self.n == 0:
            self.shift = other.shift.to(dev, copy=True)
        # other's deviations moved to this shift (no copy of other: its K x D class sums are
        # added as they are)
        their_sum, their_sq = _moved(
            other.dev_sum.to(dev), other.dev_sq_sum.to(dev), n, other.shift.to(dev) - self.shift
        )
        self.dev_sum += their_sum
        self.dev_sq_sum += their_sq
        self.class_unit_sums += other.class_unit_sums.to(dev)
        self.n += n
        self.zero_rows += other.zero_rows
        return self

    def all_reduce(self, group: Any = None) -> UnitVectorMoments:
        """Sum the state over torch.distributed processes around rank 0's shift (exact);
        no-op when not initialised. Returns ``self``."""
        if not distributed_active():
            return self
        import torch.distributed as dist

        shift = self.shift.clone()
        dist.broadcast(shift, src=0, group=group)
        self._reshift(shift)
        dev = self.shift.device
        packed = torch.cat(
            [
                self.dev_sum,
                self.dev_sq_sum,
                self.class_unit_sums.flatten(),
                torch.tensor([self.n, self.zero_rows], dtype=torch.float64, device=dev),
            ]
        )
        dist.all_reduce(packed, group=group)
        d, k = self.dim, self.num_classes
        self.dev_sum = packed[:d].clone()
        self.dev_sq_sum = packed[d : 2 * d].clone()
        self.class_unit_sums = packed[2 * d : 2 * d + k * d].view(k, d).clone()
        self.n, self.zero_rows = int(packed[-2]), int(packed[-1])
        return self

    def state_dict(self) -> dict[str, Any]:
        """The sums (cloned), the shift and the counts ``n``, ``zero_rows``."""
        return {
            "class_unit_sums": self.class_unit_sums.clone(),
            "shift": self.shift.clone(),
            "dev_sum": self.dev_sum.clone(),
            "dev_sq_sum": self.dev_sq_sum.clone(),
            "n": self.n,
            "zero_rows": self.zero_rows,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, all or nothing: every key present, the class sums
        K x D and the vectors D wide, finite values, counts ``0 <= zero_rows <= n``, squared
        deviations >= 0 and each class's unit sum no longer than ``n`` (a sum of unit
        vectors). A ValueError names the first key at fault; nothing changes then."""
        keys = ("class_unit_sums", "shift", "dev_sum", "dev_sq_sum", "n", "zero_rows")
        require_keys(state, keys, "UnitVectorMoments")
        sums = state_tensor(state, "class_unit_sums", (None, None))
        d = sums.shape[1]
        shift = state_tensor(state, "shift", (d,))
        dev_sum = state_tensor(state, "dev_sum", (d,))
        dev_sq = state_tensor(state, "dev_sq_sum", (d,), nonnegative=True)
        n = state_count(state, "n")
        zero_rows = state_count(state, "zero_rows")
        state_check(zero_rows <= n, "zero_rows", f"at most n = {n} rows", zero_rows)
        longest = float(sums.norm(dim=1).max()) if sums.numel() else 0.0
        state_check(
            longest <= (n - zero_rows) * (1 + 1e-9) + 1e-9,
            "class_unit_sums",
            f"sums of at most n - zero_rows = {n - zero_rows} unit vectors",
            f"a class sum of norm {longest:.6g}",
        )
        dev = self.shift.device
        self.class_unit_sums = sums.to(dev)
        self.shift, self.dev_sum, self.dev_sq_sum = (v.to(dev) for v in (shift, dev_sum, dev_sq))
        self.num_classes, self.dim = sums.shape
        self.n, self.zero_rows = n, zero_rows
