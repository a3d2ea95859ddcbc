"""What every tensor-state accumulator shares: its named tensors, moving them, zeroing them,
saving and restoring them with the options that shape them, and the merge checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

S = TypeVar("S", bound="TensorState")


class TensorState:
    """Base of accumulators whose state is the tensors named in ``_TENSOR_NAMES``, shaped by
    the options named in ``_SHAPE_OPTIONS`` (saved beside them with the format number
    ``_STATE_VERSION``, and equal between states that merge)."""

    _TENSOR_NAMES: tuple[str, ...] = ()
    _SHAPE_OPTIONS: tuple[str, ...] = ()
    _STATE_VERSION: int = 1
    _device_fixed: bool

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self._TENSOR_NAMES}

    def to(self: S, device: torch.device | str) -> S:
        """Move the state to ``device`` (in place) and return ``self``."""
        for name, t in self._tensors().items():
            setattr(self, name, t.to(device))
        self._device_fixed = True
        return self

    def reset(self) -> None:
        """Forget every row seen so far (keeps device and options)."""
        for t in self._tensors().values():
            t.zero_()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: tensors (cloned), the format number and the options."""
        state: dict[str, Any] = {k: v.detach().clone() for k, v in self._tensors().items()}
        state["version"] = self._STATE_VERSION
        state.update({name: getattr(self, name) for name in self._SHAPE_OPTIONS})
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` (exact round trip), all or nothing:
        every tensor present, the format number, the shape options equal to this state's,
        then the checks of :meth:`_load_tensors`."""
        owner = type(self).__name__
        missing = set(self._TENSOR_NAMES) - set(state)
        if missing:
            raise ValueError(
                f"state: expected a {owner}.state_dict(), missing keys {sorted(missing)}"
            )
        check_version(state, self._STATE_VERSION)
        want = {name: getattr(self, name) for name in self._SHAPE_OPTIONS}
        got = {name: state.get(name) for name in self._SHAPE_OPTIONS}
        if want != got:
            show = ", ".join  # e.g. dim=4, target_dim=2
            raise ValueError(
                f"state: expected {show(f'{k}={v}' for k, v in want.items())}, received "
                f"{show(f'{k}={v}' for k, v in got.items())}"
            )
        self._load_tensors(state)

    def _check_mergeable(self: S, other: Any) -> S:
        """``other`` as a state of this class with the same shape options (else an error)."""
        from collapsekit.stats._accumulator import check_mergeable

        return check_mergeable(self, other, self._SHAPE_OPTIONS)

    #: names of integer tensors that hold counts of rows (checked >= 0)
    _COUNT_NAMES: tuple[str, ...] = ()

    def _load_tensors(self, state: Mapping[str, Any]) -> None:
        """Replace every named tensor from ``state`` after checking all of them (a refused
        state changes nothing): present, this state's shape, finite, integer and >= 0 for
        the integer tensors (counts), then :meth:`_check_loaded` for what ties them together.
        Dtypes and device stay this state's."""
        require_keys(state, self._TENSOR_NAMES, type(self).__name__)
        loaded = {}
        for name, ref in self._tensors().items():
            integer = not ref.dtype.is_floating_point
            loaded[name] = state_tensor(state, name, tuple(ref.shape), integer, integer)
        self._check_loaded(loaded)
        for name, t in loaded.items():
            ref = getattr(self, name)
            setattr(self, name, t.to(device=ref.device, dtype=ref.dtype))

    def _check_loaded(self, loaded: Mapping[str, torch.Tensor]) -> None:
        """Checks across the loaded tensors (float64 / int64 on the CPU); none by default."""


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def require_keys(state: Any, keys: Iterable[str], owner: str) -> Mapping[str, Any]:
    """``state`` as a mapping holding every key of ``keys``, else a ValueError naming them."""
    if not isinstance(state, Mapping):
        raise ValueError(
            f"state: expected a {owner}.state_dict() mapping, received {type(state).__name__}"
        )
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(
            f"state: expected a {owner}.state_dict(), missing keys {missing}; pass the "
            f"dict that {owner}.state_dict() returned"
        )
    return state


def state_tensor(
    state: Mapping[str, Any],
    key: str,
    shape: Sequence[int | None],
    integer: bool = False,
    nonnegative: bool = False,
) -> torch.Tensor:
    """``state[key]`` checked and copied to the CPU: the shape (``None``: any size on that
    axis), a real dtype (an integer one for ``integer``), finite values, and ``nonnegative``
    values where asked. Returns a float64 (int64 for ``integer``) clone; a ValueError names
    the key, what was expected and what was received.

    Example:
        >>> state_tensor({"n": torch.tensor([1, 2])}, "n", (2,), integer=True).tolist()
        [1, 2]
        >>> state_tensor({"s": torch.tensor([1.0, float("nan")])}, "s", (2,))
        Traceback (most recent call last):
        ...
        ValueError: state['s']: expected finite values, received 1 NaN or Inf
    """
    from collapsekit._validation import as_tensor

    label = f"state[{key!r}]"
    try:
        t = as_tensor(state[key], label)
    except TypeError as err:
        raise ValueError(str(err)) from None
    if t.device.type == "meta":
        raise ValueError(f"{label}: expected values, received a 'meta' tensor")
    if t.dim() != len(shape) or any(
        s is not None and s != n for s, n in zip(shape, t.shape, strict=True)
    ):
        want = tuple("any" if s is None else s for s in shape)
        raise ValueError(f"{label}: expected shape {want}, received {tuple(t.shape)}")
    if integer and t.dtype not in _INT_DTYPES:
        raise ValueError(f"{label}: expected an integer tensor, received dtype {t.dtype}")
    if not integer and (t.dtype == torch.bool or t.dtype.is_complex):
        raise ValueError(f"{label}: expected a real tensor, received dtype {t.dtype}")
    t = t.detach().to("cpu", torch.int64 if integer else torch.float64).clone()
    bad = int((~torch.isfinite(t)).sum()) if not integer else 0
    if bad:
        raise ValueError(f"{label}: expected finite values, received {bad} NaN or Inf")
    if nonnegative and bool((t < 0).any()):
        raise ValueError(
            f"{label}: expected values >= 0, received {t[t < 0].flatten()[:3].tolist()}"
        )
    return t


def state_count(state: Mapping[str, Any], key: str, at_least: int = 0) -> int:
    """``state[key]`` as a Python int >= ``at_least`` (an int or a 0-d integer tensor; bool
    and fractional values are refused with a ValueError naming the key).

    Example:
        >>> state_count({"n": 3}, "n")
        3
    """
    value = state[key]
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype in _INT_DTYPES:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"state[{key!r}]: expected an integer count, received {type(value).__name__} {value!r}"
        )
    if value < at_least:
        raise ValueError(f"state[{key!r}]: expected an integer >= {at_least}, received {value}")
    return int(value)


def state_check(ok: bool, key: str, expected: str, received: Any) -> None:
    """A ValueError ``state[key]: expected ..., received ...`` unless ``ok``."""
    if not ok:
        raise ValueError(f"state[{key!r}]: expected {expected}, received {received}")


def check_scatter_diagonal(t: torch.Tensor, key: str) -> None:
    """A sum of outer products has a non-negative diagonal (up to float64 round-off)."""
    diag = torch.diagonal(t, dim1=-2, dim2=-1)
    tol = 1e-9 * float(t.abs().max()) if t.numel() else 0.0
    state_check(
        bool((diag >= -tol).all()),
        key,
        "a scatter matrix (sum of outer products, diagonal >= 0)",
        f"diagonal entries down to {float(diag.min()):.3g}",
    )


def check_version(state: Mapping[str, Any], expected: int) -> None:
    """``state["version"]`` must be this collapsekit's format number ``expected``."""
    version = state.get("version")
    if isinstance(version, bool) or version != expected:
        raise ValueError(
            f"state['version']: expected {expected} (this collapsekit's format), received "
            f"{version!r}; write the state with a matching collapsekit version"
        )
