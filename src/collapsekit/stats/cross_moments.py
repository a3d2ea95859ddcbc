"""Streamed cross moments of paired rows (x_i, y_i): everything linear CKA needs, biased and
debiased, in one pass (see :func:`collapsekit.functional.linear_cka.linear_cka_from_moments`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from collapsekit.stats._accumulator import check_mergeable, distributed_active
from collapsekit.stats._tensor_state import (
    check_scatter_diagonal,
    require_keys,
    state_check,
    state_count,
    state_tensor,
)

_MATRICES = ("exx", "eyy", "exy")
_VECTORS = ("sum_e", "sum_f", "sum_ae", "sum_be", "sum_af", "sum_bf")
_SCALARS = ("sum_aa", "sum_bb", "sum_ab")


class CrossMoments:
    """Sums of residuals e_i = x_i - s_x, f_i = y_i - s_y around shifts fixed by the first
    batch (its means): n, sum e, sum f, sum e e^T, sum f f^T, sum e f^T and the row-norm terms
    of the unbiased HSIC. Residuals and their products are float64 whatever the input (the same
    sums for any batch split); the shift keeps them free of cancellation at any common offset.

    Memory: (Dx + Dy)^2 float64.

    Example:
        >>> import torch
        >>> from collapsekit.functional.linear_cka import linear_cka_from_moments
        >>> x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
        >>> m = CrossMoments(3, 3)
        >>> m.update(x[:25], 2 * x[:25]); m.update(x[25:], 2 * x[25:])
        >>> round(linear_cka_from_moments(m.moments()), 6)
        1.0
    """

    def __init__(self, dim_x: int, dim_y: int, device: torch.device | None = None) -> None:
        dev = device or torch.device("cpu")
        self.dim_x, self.dim_y = dim_x, dim_y
        self.shift_x = torch.zeros(dim_x, dtype=torch.float64, device=dev)
        self.shift_y = torch.zeros(dim_y, dtype=torch.float64, device=dev)
        self.m: dict[str, Any] = {
            "exx": torch.zeros(dim_x, dim_x, dtype=torch.float64, device=dev),
            "eyy": torch.zeros(dim_y, dim_y, dtype=torch.float64, device=dev),
            "exy": torch.zeros(dim_x, dim_y, dtype=torch.float64, device=dev),
            "sum_e": torch.zeros(dim_x, dtype=torch.float64, device=dev),
            "sum_f": torch.zeros(dim_y, dtype=torch.float64, device=dev),
            "sum_ae": torch.zeros(dim_x, dtype=torch.float64, device=dev),
            "sum_be": torch.zeros(dim_x, dtype=torch.float64, device=dev),
            "sum_af": torch.zeros(dim_y, dtype=torch.float64, device=dev),
            "sum_bf": torch.zeros(dim_y, dtype=torch.float64, device=dev),
            "sum_aa": 0.0,
            "sum_bb": 0.0,
            "sum_ab": 0.0,
        }
        self.n = 0

    def update(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> None:
        """Add paired rows (validated float tensors with the same number of rows)."""
        if x.shape[0] == 0:
            return
        if self.n == 0:
            self.shift_x = x.double().mean(0)
            self.shift_y = y.double().mean(0)
        m = self.m
        for xc, yc in zip(x.split(chunk), y.split(chunk), strict=True):
            e64 = xc.double() - self.shift_x
            f64 = yc.double() - self.shift_y
            # float64 products whatever the input (as ClassStats): float32 products rounded
            # each batch's Gram, so CKA moved by ~1e-8 with the batch split
            m["exx"] += e64.T @ e64
            m["eyy"] += f64.T @ f64
            m["exy"] += e64.T @ f64
            a, b = e64.square().sum(1), f64.square().sum(1)
            m["sum_e"] += e64.sum(0)
            m["sum_f"] += f64.sum(0)
            m["sum_ae"] += a @ e64
            m["sum_be"] += b @ e64
            m["sum_af"] += a @ f64
            m["sum_bf"] += b @ f64
            m["sum_aa"] += float(a @ a)
            m["sum_bb"] += float(b @ b)
            m["sum_ab"] += float(a @ b)
            self.n += int(xc.shape[0])

    def moments(self) -> dict[str, Any]:
        """The sums, with ``n``, as :func:`linear_cka_from_moments` reads them."""
        return {**self.m, "n": self.n}

    def _reshift(self, new_x: torch.Tensor, new_y: torch.Tensor) -> None:
        """Re-express every sum around new shifts, exactly (e' = e + dx, f' = f + dy)."""
        dx, dy = self.shift_x - new_x, self.shift_y - new_y
        m, n = self.m, self.n
        se, sf = m["sum_e"], m["sum_f"]
        exx, eyy, exy = m["exx"], m["eyy"], m["exy"]
        # a' = a + 2 e.dx + |dx|^2 ; b' = b + 2 f.dy + |dy|^2
        dxx, dyy = float(dx @ dx), float(dy @ dy)
        sa, sb = float(exx.trace()), float(eyy.trace())
        e_dx, f_dy = exx @ dx, eyy @ dy  # sum_i e_i (e_i.dx), sum_i f_i (f_i.dy)
        f_dx_e = exy.T @ dx  # sum_i f_i (e_i.dx)
        e_dy_f = exy @ dy  # sum_i e_i (f_i.dy)
        s_e_dx, s_f_dy = float(se @ dx), float(sf @ dy)
        # scalars first (they need the old vectors)
        sum_aa = (
            m["sum_aa"]
            + 4.0 * float(m["sum_ae"] @ dx)
            + 2.0 * dxx * sa
            + 4.0 * float(dx @ exx @ dx)
            + 4.0 * dxx * s_e_dx
            + n * dxx * dxx
        )
        sum_bb = (
            m["sum_bb"]
            + 4.0 * float(m["sum_bf"] @ dy)
            + 2.0 * dyy * sb
            + 4.0 * float(dy @ eyy @ dy)
            + 4.0 * dyy * s_f_dy
            + n * dyy * dyy
        )
        sum_ab = (
            m["sum_ab"]
            + 2.0 * float(m["sum_af"] @ dy)
            + dyy * sa
            + 2.0 * float(m["sum_be"] @ dx)
            + 4.0 * float(dx @ exy @ dy)
            + 2.0 * dyy * s_e_dx
            + dxx * sb
            + 2.0 * dxx * s_f_dy
            + n * dxx * dyy
        )
        # vectors: sum a' e' etc.
        sum_ae = m["sum_ae"] + sa * dx + 2.0 * e_dx + 2.0 * s_e_dx * dx + dxx * se + n * dxx * dx
        sum_bf = m["sum_bf"] + sb * dy + 2.0 * f_dy + 2.0 * s_f_dy * dy + dyy * sf + n * dyy * dy
        sum_be = m["sum_be"] + sb * dx + 2.0 * e_dy_f + 2.0 * s_f_dy * dx + dyy * se + n * dyy * dx
        sum_af = m["sum_af"] + sa * dy + 2.0 * f_dx_e + 2.0 * s_e_dx * dy + dxx * sf + n * dxx * dy
        m["exx"] = exx + torch.outer(se, dx) + torch.outer(dx, se) + n * torch.outer(dx, dx)
        m["eyy"] = eyy + torch.outer(sf, dy) + torch.outer(dy, sf) + n * torch.outer(dy, dy)
        m["exy"] = exy + torch.outer(se, dy) + torch.outer(dx, sf) + n * torch.outer(dx, dy)
        m["sum_e"] = se + n * dx
        m["sum_f"] = sf + n * dy
        m.update(
            sum_aa=sum_aa,
            sum_bb=sum_bb,
            sum_ab=sum_ab,
            sum_ae=sum_ae,
            sum_bf=sum_bf,
            sum_be=sum_be,
            sum_af=sum_af,
        )
        self.shift_x, self.shift_y = new_x.clone(), new_y.clone()

    def merge(self, other: CrossMoments) -> CrossMoments:
        """Add ``other``'s paired rows (same widths); exact re-shift. Returns ``self``."""
        check_mergeable(self, other, ("dim_x", "dim_y"))
        if other.n == 0:
            return self
        theirs = CrossMoments(other.dim_x, other.dim_y, self.shift_x.device)
        theirs.load_state_dict(other.state_dict())
        if self.n == 0:
            self.shift_x, self.shift_y = theirs.shift_x.clone(), theirs.shift_y.clone()
        theirs._reshift(self.shift_x, self.shift_y)
        for key in (*_MATRICES, *_VECTORS, *_SCALARS):
            self.m[key] = self.m[key] + theirs.m[key]
        self.n += theirs.n
        return self

    def all_reduce(self, group: Any = None) -> CrossMoments:
        """Sum the moments over torch.distributed processes around rank 0's shifts (exact);
        no-op when not initialised. Returns ``self``."""
        if not distributed_active():
            return self
        import torch.distributed as dist

        sx, sy = self.shift_x.clone(), self.shift_y.clone()
        dist.broadcast(sx, src=0, group=group)
        dist.broadcast(sy, src=0, group=group)
        self._reshift(sx, sy)
        dev = sx.device
        parts = [self.m[k].flatten() for k in (*_MATRICES, *_VECTORS)]
        scal = [float(self.m[k]) for k in _SCALARS] + [float(self.n)]
        packed = torch.cat([*parts, torch.tensor(scal, dtype=torch.float64, device=dev)])
        dist.all_reduce(packed, group=group)
        lo = 0
        for key in (*_MATRICES, *_VECTORS):
            size = self.m[key].numel()
            self.m[key] = packed[lo : lo + size].view_as(self.m[key]).clone()
            lo += size
        for i, key in enumerate(_SCALARS):
            self.m[key] = float(packed[lo + i])
        self.n = int(packed[-1])
        return self

    def state_dict(self) -> dict[str, Any]:
        """The moments (tensors cloned), ``n`` and the shifts."""
        out: dict[str, Any] = {
            k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in self.m.items()
        }
        out.update(n=self.n, shift_x=self.shift_x.clone(), shift_y=self.shift_y.clone())
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, all or nothing: every key present with this state's
        shape, finite values, ``n`` a count, the Gram sums ``exx``/``eyy`` and ``sum_aa``/
        ``sum_bb`` non-negative. A ValueError names the first key at fault; nothing changes
        then."""
        keys = (*_MATRICES, *_VECTORS, *_SCALARS, "shift_x", "shift_y", "n")
        require_keys(state, keys, "CrossMoments")
        new: dict[str, Any] = {}
        for key in (*_MATRICES, *_VECTORS):
            new[key] = state_tensor(state, key, tuple(self.m[key].shape))
        for key in ("exx", "eyy"):
            check_scatter_diagonal(new[key], key)
        for key in _SCALARS:
            new[key] = _real(state[key], key)
        for key in ("sum_aa", "sum_bb"):
            state_check(new[key] >= 0, key, "a sum of squares >= 0", new[key])
        shift_x = state_tensor(state, "shift_x", (self.dim_x,))
        shift_y = state_tensor(state, "shift_y", (self.dim_y,))
        n = state_count(state, "n")
        dev = self.shift_x.device
        self.m = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in new.items()}
        self.shift_x, self.shift_y, self.n = shift_x.to(dev), shift_y.to(dev), n


def _real(value: Any, key: str) -> float:
    """A real number of a state (int, float or 0-d tensor), else a ValueError naming it."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(
            f"state[{key!r}]: expected a finite number, received {type(value).__name__} {value!r}"
        )
    return float(value)
