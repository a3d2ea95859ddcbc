"""What a valid ``ClassStats.state_dict()`` checkpoint is: every check that
``ClassStats.load_state_dict`` runs before it replaces anything (all or nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from collapsekit._validation import as_tensor

if TYPE_CHECKING:
    from collapsekit.stats.class_stats import ClassStats

#: the ``version`` a ClassStats state carries (this collapsekit's format)
STATE_VERSION = 1


def validated_class_state(stats: ClassStats, state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` checked against ``stats`` (its K, D, device and dtypes) and
    converted to them; ValueError or TypeError names the first problem.

    Checked: the keys, ``version``, ``num_classes``/``dim``, each tensor's shape and dtype
    kind, finite values, integer non-negative counts, non-negative residual square sums and a
    symmetric positive semi-definite scatter (within float32 round-off, so states written by
    versions that used float32 products still load).

    Example:
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> a = ClassStats(2, 3)
        >>> a.update(torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 0, 1, 1]))
        >>> sorted(validated_class_state(ClassStats(2, 3), a.state_dict()))
        ['counts', 'resid_sq', 'resid_sum', 'scatter', 'shift']
        >>> validated_class_state(ClassStats(3, 3), a.state_dict())
        Traceback (most recent call last):
        ...
        ValueError: state: expected num_classes=3, dim=3, received num_classes=2, dim=3
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"state: expected a ClassStats.state_dict() mapping, received {type(state).__name__}"
        )
    missing = {"counts", "shift", "resid_sum", "resid_sq", "scatter"} - set(state)
    if missing:
        raise ValueError(
            f"state: expected a ClassStats.state_dict(), missing keys {sorted(missing)}"
        )
    version = state.get("version")
    if isinstance(version, bool) or version != STATE_VERSION:
        raise ValueError(
            f"state['version']: expected {STATE_VERSION} (this collapsekit's format), "
            f"received {version!r}; write the state with a matching collapsekit version"
        )
    if (state.get("num_classes"), state.get("dim")) != (stats.num_classes, stats.dim):
        raise ValueError(
            f"state: expected num_classes={stats.num_classes}, dim={stats.dim}, received "
            f"num_classes={state.get('num_classes')}, dim={state.get('dim')}"
        )
    out: dict[str, torch.Tensor] = {}
    for name, ref in stats._tensors().items():
        label = f"state[{name!r}]"
        t = as_tensor(state[name], label)
        if t.shape != ref.shape:
            raise ValueError(
                f"{label}: expected shape {tuple(ref.shape)}, received {tuple(t.shape)}"
            )
        if t.dtype == torch.bool or t.dtype.is_complex:
            raise TypeError(f"{label}: expected a real numeric tensor, received {t.dtype}")
        if t.device.type == "meta":
            raise ValueError(f"{label}: expected values, received a 'meta' tensor")
        t64 = t.detach().to(device="cpu", dtype=torch.float64)
        if not bool(torch.isfinite(t64).all()):
            raise ValueError(f"{label}: expected finite values, received NaN or Inf")
        if name == "counts":
            if bool((t64 < 0).any()) or bool((t64 != t64.round()).any()):
                raise ValueError(
                    f"{label}: expected non-negative integer row counts, received "
                    f"{t64[(t64 < 0) | (t64 != t64.round())][:3].tolist()}"
                )
        elif name == "resid_sq":
            # a sum of squares: negative only by round-off
            if bool((t64 < 0).any()):
                raise ValueError(f"{label}: expected sums of squares >= 0, received negatives")
        elif name == "scatter":
            _check_scatter(t64, label)
        out[name] = t.detach().to(device=stats.device, dtype=ref.dtype).clone()
    return out


def _check_scatter(scatter: torch.Tensor, label: str) -> None:
    """A D x D float64 scatter must be symmetric and PSD up to round-off (the tolerance is
    float32's, so states written by versions that used float32 products still load)."""
    scale = float(scatter.abs().max()) if scatter.numel() else 0.0
    if scale == 0.0:
        return
    d = scatter.shape[0]
    tol = 16.0 * d * float(torch.finfo(torch.float32).eps) * scale
    if float((scatter - scatter.T).abs().max()) > tol:
        raise ValueError(
            f"{label}: expected a symmetric scatter matrix, received an asymmetric one"
        )
    lowest = float(torch.linalg.eigvalsh(scatter / scale)[0]) * scale
    if lowest < -tol:
        raise ValueError(
            f"{label}: expected a positive semi-definite scatter (a sum of outer products), "
            f"received an eigenvalue of {lowest:.3g}; the state is corrupt"
        )
