"""What the class moments of :class:`~collapsekit.stats.class_stats.ClassStats` give: class
means, the within, between and total covariances, per-class squared deviations, and the
neural-collapse metrics computed from them (the mixin :class:`ClassQueries`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch

from collapsekit._validation import as_tensor, check_features

if TYPE_CHECKING:
    from collapsekit.stats.ncc_agreement import NCCAgreement


class ClassQueries:
    """Read-only quantities of :class:`~collapsekit.stats.class_stats.ClassStats` (a mixin:
    the state below is created by its constructor)."""

    num_classes: int
    dim: int
    global_mean: Literal["class", "sample"]
    rtol: float | None
    tile_bytes: int
    counts: torch.Tensor
    shift: torch.Tensor
    resid_sum: torch.Tensor
    resid_sq: torch.Tensor
    scatter: torch.Tensor

    @property
    def num_samples(self) -> int:
        return int(self.counts.sum())

    def _require_classes(self, minimum: int = 2) -> torch.Tensor:
        present = torch.nonzero(self.counts > 0).flatten()
        if present.numel() < minimum:
            raise ValueError(
                f"labels: expected rows from at least {minimum} classes, received "
                f"{present.numel()} non-empty class(es) over {self.num_samples} row(s); "
                "class-separation statistics need two or more classes"
            )
        return present

    def present_classes(self) -> torch.Tensor:
        """Indices of the classes that received at least one row."""
        return torch.nonzero(self.counts > 0).flatten()

    def class_means(self) -> torch.Tensor:
        """Float64 means of the non-empty classes (rows ordered as :meth:`present_classes`)."""
        p = self.present_classes()
        n = self.counts[p].double()[:, None]
        return self.shift[p].double() + self.resid_sum[p] / n

    def global_mean_vector(self) -> torch.Tensor:
        """mu_G: mean of class means (``global_mean='class'``) or the sample mean."""
        means = self.class_means()
        if means.shape[0] == 0:
            raise ValueError("labels: no rows have been accumulated yet; call update() first")
        if self.global_mean == "class":
            return means.mean(0)
        n = self.counts[self.present_classes()].double()
        return (n[:, None] * means).sum(0) / n.sum()

    def within_scatter(self) -> torch.Tensor:
        """sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T in float64 (D x D)."""
        p = self.present_classes()
        r = self.resid_sum[p]
        return self.scatter - (r / self.counts[p].double()[:, None]).T @ r

    def within_cov(self) -> torch.Tensor:
        """Sigma_W = within_scatter / N."""
        return self.within_scatter() / max(self.num_samples, 1)

    def between_cov(self, weighting: Literal["class", "sample"] = "class") -> torch.Tensor:
        """Sigma_B = M~^T M~ / K (``weighting='class'``, the contract) or
        sum_c (n_c/N)(mu_c - mu)(mu_c - mu)^T with the sample mean (``'sample'``)."""
        means = self.class_means()
        if weighting == "class":
            centred = means - self.global_mean_vector()
            return centred.T @ centred / means.shape[0]
        n = self.counts[self.present_classes()].double()
        centred = means - (n[:, None] * means).sum(0) / n.sum()
        return (centred * (n / n.sum())[:, None]).T @ centred

    def total_cov(self) -> torch.Tensor:
        """Sigma_T = (1/N) sum_i (h_i - mean)(h_i - mean)^T = Sigma_W + Sigma_B('sample')."""
        return self.within_cov() + self.between_cov("sample")

    def class_sq_deviation(self) -> torch.Tensor:
        """sum_{i in c} ||h_i - mu_c||^2 for each non-empty class (float64)."""
        p = self.present_classes()
        r = self.resid_sum[p]
        out = self.resid_sq[p] - r.square().sum(1) / self.counts[p].double()
        return out.clamp_min(0.0)

    def class_variances(self) -> torch.Tensor:
        """var_c = (1/n_c) sum_{i in c} ||h_i - mu_c||^2 (Galanti et al. 2021)."""
        return self.class_sq_deviation() / self.counts[self.present_classes()].double()

    # ------------------------------------------------------------------ metrics
    def neural_collapse(
        self,
        weights: Any = None,
        ood_mean: Any = None,
        ncc_agreement: float | None = None,
    ) -> dict[str, float]:
        """The neural-collapse metrics (docs/metrics.md) from the streamed state.

        ``weights`` (num_classes x D) adds ``self_duality``; ``ood_mean`` (D,) adds
        ``ood_orthogonality``; ``ncc_agreement`` is passed through from a second pass
        (:meth:`ncc_counter`). Keys whose inputs are missing are left out.
        """
        from collapsekit.functional.neural_collapse import neural_collapse_from_moments

        present = self._require_classes(2)
        w = None
        if weights is not None:
            w = check_features(weights, "weights", self.dim, self.counts.device)
            if w.shape[0] != self.num_classes:
                raise ValueError(
                    f"weights: expected one row per class ({self.num_classes} x {self.dim}), "
                    f"received shape {tuple(w.shape)}"
                )
            w = w[present]
        ood = None
        if ood_mean is not None:
            ood = as_tensor(ood_mean, "ood_mean", self.counts.device).double().flatten()
            if ood.numel() != self.dim:
                raise ValueError(
                    f"ood_mean: expected a vector of length {self.dim}, received {ood.numel()}"
                )
            if not bool(torch.isfinite(ood).all()):
                raise ValueError(
                    "ood_mean: expected finite values, received NaN or Inf; compute it from "
                    "finite out-of-distribution rows"
                )
        out = neural_collapse_from_moments(
            means=self.class_means(),
            counts=self.counts[present],
            within_scatter=self.within_scatter(),
            class_sq_deviation=self.class_sq_deviation(),
            global_mean=self.global_mean_vector(),
            weights=w,
            ood_mean=ood,
            rtol=self.rtol,
            tile_bytes=self.tile_bytes,
        )
        if ncc_agreement is not None:
            out["ncc_agreement"] = float(ncc_agreement)
        return out

    def ncc_counter(self, weights: Any, bias: Any = None) -> NCCAgreement:
        """A second-pass accumulator of NC4 agreement using this state's final class means."""
        from collapsekit.stats.ncc_agreement import NCCAgreement

        self._require_classes(2)
        return NCCAgreement(
            class_means=self.class_means(),
            class_ids=self.present_classes(),
            weights=weights,
            bias=bias,
            center=self.global_mean_vector(),
        )

    # ------------------------------------------------------------------ class axis
