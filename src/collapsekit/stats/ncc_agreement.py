"""NC4: agreement between the classifier and the nearest-class-centre rule, streamed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit._validation import as_tensor, check_features
from collapsekit.functional.ncc_agreement import ncc_predictions
from collapsekit.stats._accumulator import check_mergeable, distributed_active
from collapsekit.stats._tensor_state import require_keys, state_check, state_count


class NCCAgreement:
    """Count rows where ``argmax_c (W h + b)_c == argmin_c ||h - mu_c||`` (NC4).

    Class means must be final, so this is a second pass over the data (or the same pass for an
    in-memory array). Distances are computed on ``h - mu_G`` and ``mu_c - mu_G`` in float64 as
    ``||mu_c - mu_G||^2 - 2 (h - mu_G).(mu_c - mu_G)`` (the row's own norm is common to every
    class), so a large common offset cancels before any product is formed.

    Args:
        class_means: (K', D) means of the non-empty classes.
        class_ids: (K',) the label of each row of ``class_means``.
        weights: (C, D) classifier weights, C > max(class_ids).
        bias: optional (C,) classifier bias.
        center: (D,) the vector subtracted before distances (mu_G); defaults to the mean of means.

    Example:
        >>> import torch
        >>> means = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> counter = NCCAgreement(means, torch.tensor([0, 1]), weights=means)
        >>> counter.update(torch.tensor([[2.0, 0.1], [0.1, 3.0]]))
        >>> counter.compute()
        1.0
    """

    def __init__(
        self,
        class_means: torch.Tensor,
        class_ids: torch.Tensor,
        weights: Any,
        bias: Any = None,
        center: torch.Tensor | None = None,
        chunk_size: int = 8192,
    ) -> None:
        self.means = class_means.double()
        device = self.means.device
        self.class_ids = class_ids.to(device)
        dim = self.means.shape[1]
        w = check_features(weights, "weights", dim, device).double()
        if w.shape[0] <= int(self.class_ids.max()):
            raise ValueError(
                f"weights: expected at least {int(self.class_ids.max()) + 1} rows (one per "
                f"class), received shape {tuple(w.shape)}"
            )
        self.weights = w
        self.bias = None
        if bias is not None:
            b = as_tensor(bias, "bias", device).double().flatten()
            if b.numel() != w.shape[0]:
                raise ValueError(
                    f"bias: expected {w.shape[0]} values (one per weight row), received {b.numel()}"
                )
            if not bool(torch.isfinite(b).all()):
                raise ValueError("bias: expected finite values, received NaN or Inf")
            self.bias = b
        self.center = self.means.mean(0) if center is None else center.double().to(device)
        self.centred_means = self.means - self.center
        self.sq_norms = self.centred_means.square().sum(1)
        self.chunk_size = chunk_size
        self.agree = torch.zeros((), dtype=torch.int64, device=device)
        self.total = torch.zeros((), dtype=torch.int64, device=device)

    def predictions(self, features: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(classifier argmax, nearest-centre label) for each row."""
        x = check_features(features, "features", self.means.shape[1], self.means.device)
        clf, nearest = ncc_predictions(
            x, self.centred_means, self.center, self.weights, self.bias, self.chunk_size
        )
        return clf, self.class_ids[nearest]

    def update(self, features: Any) -> None:
        """Count agreement on a batch of rows."""
        clf, ncc = self.predictions(features)
        self.agree += (clf == ncc).sum()
        self.total += clf.numel()

    def merge(self, other: NCCAgreement) -> NCCAgreement:
        """Add ``other``'s counts (rows counted against the same class means); returns
        ``self``."""
        check_mergeable(self, other, ())
        self.agree += other.agree.to(self.agree.device)
        self.total += other.total.to(self.total.device)
        return self

    def all_reduce(self, group: Any = None) -> NCCAgreement:
        """Sum the counts over torch.distributed processes (no-op when not initialised)."""
        if distributed_active():
            import torch.distributed as dist

            packed = torch.stack([self.agree, self.total])
            dist.all_reduce(packed, group=group)
            self.agree, self.total = packed[0].clone(), packed[1].clone()
        return self

    def state_dict(self) -> dict[str, Any]:
        """The counts ``{"agree", "total"}`` (the class means and classifier are arguments of
        the constructor, not state)."""
        return {"agree": int(self.agree), "total": int(self.total)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`, all or nothing: integer counts ``0 <= agree <= total``;
        a ValueError names the key at fault."""
        require_keys(state, ("agree", "total"), "NCCAgreement")
        agree, total = state_count(state, "agree"), state_count(state, "total")
        state_check(agree <= total, "agree", f"at most total = {total} rows", agree)
        self.agree = torch.tensor(agree, dtype=torch.int64, device=self.agree.device)
        self.total = torch.tensor(total, dtype=torch.int64, device=self.total.device)

    def compute(self) -> float:
        """Fraction of rows where the classifier agrees with the nearest class centre."""
        if int(self.total) == 0:
            raise ValueError("features: no rows were counted; call update() first")
        return int(self.agree) / int(self.total)
