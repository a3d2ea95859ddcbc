"""What every tensor-state accumulator shares: its named tensors, moving them, zeroing them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import torch

S = TypeVar("S", bound="TensorState")


class TensorState:
    """Base of accumulators whose state is the tensors named in ``_TENSOR_NAMES``."""

    _TENSOR_NAMES: tuple[str, ...] = ()
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

    def _load_tensors(self, state: Mapping[str, Any]) -> None:
        """Replace every named tensor from ``state`` after checking all of their shapes (a
        refused state changes nothing); dtypes and device stay this state's."""
        from collapsekit._validation import as_tensor

        loaded = {}
        for name, ref in self._tensors().items():
            t = as_tensor(state[name], f"state[{name!r}]")
            if t.shape != ref.shape:
                raise ValueError(
                    f"state[{name!r}]: expected shape {tuple(ref.shape)}, received {tuple(t.shape)}"
                )
            loaded[name] = t.to(device=ref.device, dtype=ref.dtype).clone()
        for name, t in loaded.items():
            setattr(self, name, t)
