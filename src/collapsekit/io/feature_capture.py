"""Capture a named module's input or output during forward passes (forward hooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn


class FeatureCapture:
    """Keep the latest features seen by ``model.<layer>`` (detached, flattened to N x D).

    Only the most recent batch is held, never the whole epoch; pass a ``sink`` (for example
    ``lambda f: stats.update(f, labels)``) or read :attr:`last` after each forward pass.

    Args:
        model: any ``nn.Module``.
        layer: dotted name of the submodule (``"fc"``, ``"encoder.layers.11"``); ``""`` = model.
        capture: ``"input"`` (what the module receives: the penultimate features when the layer
            is the classifier) or ``"output"``.
        sink: optional callable run on every captured batch.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> with FeatureCapture(net, "2") as cap:
        ...     _ = net(torch.randn(5, 4))
        >>> tuple(cap.last.shape), cap.last.requires_grad
        ((5, 3), False)
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str = "",
        capture: Literal["input", "output"] = "input",
        sink: Callable[[torch.Tensor], Any] | None = None,
    ) -> None:
        if capture not in ("input", "output"):
            raise ValueError(f"capture: expected 'input' or 'output', received {capture!r}")
        try:
            module = model.get_submodule(layer)
        except AttributeError as exc:
            names = [n for n, _ in model.named_modules() if n][:20]
            raise ValueError(
                f"layer: expected the name of a submodule of the model, received {layer!r}; "
                f"available: {', '.join(names)}"
            ) from exc
        self.capture = capture
        self.sink = sink
        self.last: torch.Tensor | None = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        value = inputs[0] if self.capture == "input" else output
        if isinstance(value, tuple | list):
            value = value[0]
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"FeatureCapture: expected the layer's {self.capture} to be a tensor, found "
                f"{type(value).__name__}"
            )
        feats = value.detach()
        if feats.dim() > 2:
            feats = feats.flatten(1)
        elif feats.dim() == 1:
            feats = feats[None]
        self.last = feats
        if self.sink is not None:
            self.sink(feats)

    def remove(self) -> None:
        """Detach the hook from the model."""
        self._handle.remove()

    def __enter__(self) -> FeatureCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
