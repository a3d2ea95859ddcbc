"""Input checks shared by every entry point.

Every check raises :class:`ValueError` (or :class:`TypeError` for a wrong type) whose message
names the argument, what was expected, what was received and, where known, the fix. Checks run
before any state is touched, so a rejected batch loses nothing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_tensor(value: Any, name: str, device: torch.device | None = None) -> torch.Tensor:
    """Turn a tensor, numpy array or nested list into a tensor without copying when possible."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()  # statistics never join the caller's autograd graph
    elif isinstance(value, np.ndarray | np.memmap | list | tuple):
        try:
            arr = np.asarray(value)
            if not arr.dtype.isnative or any(st < 0 for st in arr.strides):
                # big-endian data or a reversed view: torch takes neither, copy to native order
                arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
            elif not arr.flags.writeable:  # read-only memmaps: torch needs its own copy
                arr = np.array(arr)
            tensor = torch.as_tensor(arr)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name}: expected a numeric tensor or array, received {type(value).__name__} "
                f"that cannot be converted ({exc})"
            ) from exc
    else:
        raise TypeError(
            f"{name}: expected a torch.Tensor or numpy array, received {type(value).__name__}"
        )
    if tensor.device.type == "meta":
        raise ValueError(
            f"{name}: expected a tensor holding values, received one on the 'meta' device "
            "(shapes only); materialise it first (e.g. module.to_empty(...) then load weights)"
        )
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    return tensor


def check_features(
    features: Any,
    name: str = "features",
    dim: int | None = None,
    device: torch.device | None = None,
    min_rows: int = 1,
    check_finite: bool = True,
) -> torch.Tensor:
    """Validate a 2-D floating feature matrix (N x D) and return it as a tensor.

    Integer inputs are accepted and converted to float32; half and bfloat16 stay as they are
    (callers accumulate them in higher precision).
    """
    x = as_tensor(features, name, device)
    if x.dim() != 2:
        raise ValueError(
            f"{name}: expected a 2-D array of shape (N, D), received shape {tuple(x.shape)}; "
            "flatten the spatial/token dimensions or pool them first (e.g. x.flatten(1))"
        )
    if x.dtype not in _FLOAT_DTYPES:
        if x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(
                f"{name}: expected a real floating dtype, received {x.dtype}; convert with .float()"
            )
        x = x.to(torch.float32)
    if dim is not None and x.shape[1] != dim:
        # a classifier matrix (K x D) is often stored D x K (Keras, JAX); a batch of rows whose
        # count happens to equal D is not transposed, so only weights get the hint
        flipped = name.endswith("weights") and x.shape[0] == dim
        raise ValueError(
            f"{name}: expected {dim} columns (D, the width of the features), received shape "
            f"{tuple(x.shape)}" + (f"; it looks transposed: pass {name}.T" if flipped else "")
        )
    if x.shape[0] < min_rows:
        raise ValueError(f"{name}: expected at least {min_rows} row(s), received {x.shape[0]}")
    if check_finite and x.numel() > 0 and not rows_are_finite(x):
        raise_nonfinite_rows(name, ~torch.isfinite(x).all(dim=1))
    return x


def rows_are_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or Inf. One row-sum pass (NaN and Inf propagate into the
    sums); the exact elementwise check only runs when a sum is not finite, so a sum that merely
    overflows is never mistaken for bad input."""
    sums = x.sum(dim=1)
    if bool(torch.isfinite(sums).all()):
        return True
    return bool(torch.isfinite(x).all())


def raise_nonfinite_rows(name: str, bad_rows: torch.Tensor) -> None:
    """Raise the standard error for rows holding NaN or Inf (``bad_rows`` is a bool mask)."""
    idx = torch.nonzero(bad_rows).flatten().tolist()
    shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
    raise ValueError(
        f"{name}: expected finite values, received NaN or Inf in {len(idx)} row(s) "
        f"(indices {shown}); drop or repair these rows before calling (nothing was accumulated)"
    )


def check_labels(
    labels: Any,
    n_rows: int,
    num_classes: int | None = None,
    name: str = "labels",
    device: torch.device | None = None,
) -> torch.Tensor:
    """Validate integer class labels of length ``n_rows`` in ``[0, num_classes)``."""
    y = as_tensor(labels, name, device)
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1:
        raise ValueError(
            f"{name}: expected a 1-D array of N integer class indices, received shape "
            f"{tuple(y.shape)}; for one-hot labels pass labels.argmax(1)"
        )
    if y.dtype.is_floating_point:
        if y.numel() and not bool(torch.isfinite(y).all()):
            raise ValueError(f"{name}: expected integer class indices, received NaN or Inf")
        if y.numel() and not bool((y == y.round()).all()):
            raise ValueError(
                f"{name}: expected integer class indices, received non-integer floats "
                f"(dtype {y.dtype}); pass class indices, e.g. labels.long()"
            )
        y = y.long()
    elif y.dtype == torch.bool or y.dtype.is_complex:
        raise TypeError(f"{name}: expected integer class indices, received dtype {y.dtype}")
    else:
        y = y.long()
    if y.shape[0] != n_rows:
        raise ValueError(
            f"{name}: expected one label per feature row ({n_rows}), received {y.shape[0]}"
        )
    if y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0:
            raise ValueError(
                f"{name}: expected class indices >= 0, received {lo}; "
                "map labels to 0..K-1 first (e.g. np.unique(labels, return_inverse=True))"
            )
        if num_classes is not None and hi >= num_classes:
            raise ValueError(
                f"{name}: expected class indices < num_classes={num_classes}, received {hi}; "
                "raise num_classes or remap the labels"
            )
    return y


def usable_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that this torch build can allocate on; ValueError
    naming ``name`` otherwise (a CUDA device on a CPU-only build said only "Torch not compiled
    with CUDA enabled", and only once the first batch arrived).

    Example:
        >>> usable_device("cpu")
        device(type='cpu')
        >>> usable_device("gpu")
        Traceback (most recent call last):
        ...
        ValueError: device: expected a device name such as 'cpu' or 'cuda:0', received 'gpu'
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{name}: expected a device name such as 'cpu' or 'cuda:0', received {device!r}"
        ) from None
    if dev.type == "meta":
        raise ValueError(
            f"{name}: expected a device that holds values, received 'meta' (shapes only); "
            "pass 'cpu', or leave it unset to keep the rows' own device"
        )
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{name}: expected a device this torch build can use, received {str(dev)!r} "
            f"({reason}); pass 'cpu', or leave it unset to keep the rows' own device"
        ) from None
    return dev


def check_positive_int(value: Any, name: str) -> int:
    """An integer >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(f"{name}: expected a positive integer, received {value!r}")
    return int(value)


def accumulation_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 inputs are accumulated in float64; everything narrower in float32 then float64."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _is_real_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float | np.integer | np.floating)
        and math.isfinite(float(value))
    )


def check_finite_float(value: Any, name: str) -> float:
    """A finite real number (not bool, NaN or Inf)."""
    if not _is_real_number(value):
        raise ValueError(f"{name}: expected a finite number, received {value!r}")
    return float(value)


def check_nonnegative_float(value: Any, name: str, fix: str = "") -> float:
    """A finite number >= 0 (e.g. a tolerance or a temperature)."""
    if not _is_real_number(value) or float(value) < 0:
        raise ValueError(
            f"{name}: expected a finite number >= 0, received {value!r}"
            + (f"; {fix}" if fix else "")
        )
    return float(value)


def check_positive_float(value: Any, name: str, fix: str = "") -> float:
    """A finite number > 0."""
    if not _is_real_number(value) or float(value) <= 0:
        raise ValueError(
            f"{name}: expected a finite number > 0, received {value!r}"
            + (f"; {fix}" if fix else "")
        )
    return float(value)


def check_open_unit_interval(value: Any, name: str, fix: str = "") -> float:
    """A number strictly between 0 and 1 (e.g. a confidence level such as 0.95)."""
    if not _is_real_number(value) or not 0.0 < float(value) < 1.0:
        raise ValueError(
            f"{name}: expected a number strictly between 0 and 1 (e.g. 0.95), received {value!r}"
            + (f"; {fix}" if fix else "")
        )
    return float(value)


def check_nonnegative_int(value: Any, name: str, fix: str = "") -> int:
    """An integer >= 0 (e.g. a number of bootstrap resamples, 0 = none)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 0:
        raise ValueError(
            f"{name}: expected an integer >= 0, received {value!r}" + (f"; {fix}" if fix else "")
        )
    return int(value)


def check_int_at_least(value: Any, name: str, minimum: int, fix: str = "") -> int:
    """An integer >= ``minimum`` (e.g. ``probe_folds`` >= 2, ``uniformity_rows`` >= 2)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ValueError(
            f"{name}: expected an integer >= {minimum}, received {value!r}"
            + (f"; {fix}" if fix else "")
        )
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """One of the allowed strings."""
    if not isinstance(value, str) or value not in choices:
        allowed = " or ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected {allowed}, received {value!r}")
    return value


def check_level(value: Any) -> float:
    """``interval_level`` as a float strictly between 0 and 1 (the coverage of an interval).

    Example:
        >>> check_level(0.95)
        0.95
        >>> check_level(1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: interval_level: expected a probability strictly between 0 and 1 ...
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(
            f"interval_level: expected a probability strictly between 0 and 1 (e.g. 0.95), "
            f"received {value!r}"
        )
    return float(value)


def check_count(value: Any, name: str, minimum: int, allow_none: bool = False) -> Any:
    """An integer count ``>= minimum`` (``None`` passes through when ``allow_none``).

    Example:
        >>> check_count(3, "probe_folds", 2), check_count(None, "bootstrap", 0, allow_none=True)
        (3, None)
        >>> check_count(1, "probe_folds", 2)
        Traceback (most recent call last):
        ...
        ValueError: probe_folds: expected an integer >= 2, received 1
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, received {value!r}")
    return value


def finite_and_wide_enough(x: torch.Tensor, name: str, peak: float = 2.0**60) -> torch.Tensor:
    """``x`` checked for NaN/Inf and widened where needed, in one pass over float32 rows: half
    and bfloat16 become float32; float32 rows whose squares would leave float32's range
    (magnitudes beyond ``peak``, 2^60 by default, or below 2^-60, e.g. features at 1e30 or
    1e-30) become float64, so every metric reads the same at any scale
    (``precision='float32'`` passes 2^48, where its float32 squares could overflow). The
    extremes (``aminmax``) carry NaN and Inf, so one reduction serves both checks; float64
    rows get the row-sum check.

    Example:
        >>> finite_and_wide_enough(torch.tensor([[1e30, 0.0]]), "features").dtype
        torch.float64
        >>> finite_and_wide_enough(torch.tensor([[1.0, 2.0]], dtype=torch.half), "x").dtype
        torch.float32
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if not x.numel():
        return x
    if x.dtype != torch.float32:
        if not rows_are_finite(x):
            raise_nonfinite_rows(name, ~torch.isfinite(x).all(dim=1))
        return x
    lo, hi = (float(v) for v in x.aminmax())  # one pass, no |x| copy
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise_nonfinite_rows(name, ~torch.isfinite(x).all(dim=1))
    largest = max(-lo, hi)
    if largest > peak or 0.0 < largest < 2.0**-60:
        return x.double()
    return x
