"""What a batch must be to enter an :class:`~collapsekit.engine.analyzer.Analyzer`: rows checked
against the first batch (finite, the same width, labelling and reference pairing), and labels
encoded to class ids with the class axis grown for new ones, leaving no trace when refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from collapsekit._validation import check_features, finite_and_wide_enough
from collapsekit.engine.budget import check_class_memory
from collapsekit.engine.state import grow
from collapsekit.stats.class_batch import FLOAT32_PRODUCTS_PEAK

if TYPE_CHECKING:  # annotations only
    from collapsekit.engine.analyzer import Analyzer


def checked_batch(
    a: Analyzer, features: Any, labels: Any, reference: Any
) -> tuple[torch.Tensor, bool, torch.Tensor | None]:
    """(rows, labelled, reference rows) of a batch, checked against the first batch:
    finite, the same width, labelling and reference pairing."""
    device = a.device if a.device is not None else None
    x = finite_and_wide_enough(
        check_features(features, "features", a.dim, device, min_rows=0, check_finite=False),
        "features",
        FLOAT32_PRODUCTS_PEAK if a.precision == "float32" else 2.0**60,
    )
    labelled = labels is not None
    if a.labelled is not None and labelled != a.labelled:
        raise ValueError(
            "labels: expected "
            + (
                "labels with every batch (the first batch had them)"
                if a.labelled
                else "no labels (the first batch had none)"
            )
            + ", received the other"
        )
    ref = None
    if reference is not None:
        ref = finite_and_wide_enough(
            check_features(
                reference, "reference", a.reference_dim, x.device, 0, check_finite=False
            ),
            "reference",
        )
        if ref.shape[0] != x.shape[0]:
            raise ValueError(
                f"reference: expected {x.shape[0]} rows paired with the features (row i of "
                f"both from the same input), received {ref.shape[0]}; CKA of unpaired rows "
                "is undefined"
            )
    if a.class_stats is not None and (ref is None) != (a.cross is None):
        raise ValueError(
            "reference: expected a reference batch with every batch or with none (CKA pairs "
            "every row), received a change midway"
        )
    return x, labelled, ref


def encoded_labels(a: Analyzer, labels: Any, x: torch.Tensor, labelled: bool) -> torch.Tensor:
    """The batch's class ids (zeros without labels). New labels widen ``a``'s class axis, or
    on the first batch are checked against the memory budget; when anything fails the label
    encoder is restored, so a refused batch leaves no trace."""
    values, kind = list(a.encoder.values), a.encoder.kind
    try:
        if labelled:
            y = a.encoder.encode(labels, x.device, x.shape[0])
        else:
            y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if a.class_stats is not None and labelled and a.encoder.num_classes > a.capacity:
            grow(a, a.encoder.num_classes)  # checks memory before it changes anything
        elif a.class_stats is None and x.shape[0]:
            check_class_memory(a.encoder.num_classes, x.shape[1])
    except Exception:
        a.encoder.load_state_dict(
            {"kind": kind, "values": values, "class_names": a.encoder.class_names}
        )
        raise
    return y
