"""The Gram product ``X^T X`` of a batch of rows, added into a float64 scatter, computed from its
upper blocks: a symmetric matrix needs only ``nb (nb + 1) / 2`` of its ``nb^2`` blocks.

With 2 x 2 blocks that is 3/4 of the GEMM's multiply-adds, with 4 x 4 blocks 10/16. On the
2-core development machine (MKL, float32, batches of 4,096 rows; ``benchmarks/README.md``) the
blocked product took 0.87-0.90 of the plain one at D = 256-768 (2 x 2) and 0.7-0.8 at
D >= 1,024 (4 x 4); below D = 256 the smaller GEMMs lose what the saved work gains, so the
plain product is used there, and on GPUs, whose GEMMs are far from the bottleneck of a pass.
Every entry is the same float32 (or float64) dot product as in the plain GEMM, so the results
agree to rounding. CPU float64 rows go through numpy's ``syrk`` instead when
:mod:`collapsekit._linalg` routes them there: one triangle, half the GEMM's multiply-adds.
"""

from __future__ import annotations

import torch

from collapsekit import _linalg


def gram_blocks(dim: int, device: torch.device) -> list[int]:
    """Block edges along D for :func:`add_gram_` (``[0, D]``: one block, the plain product).

    Example:
        >>> gram_blocks(768, torch.device("cpu")), gram_blocks(64, torch.device("cpu"))
        ([0, 384, 768], [0, 64])
    """
    if device.type != "cpu" or dim < 256:
        return [0, dim]
    nb = 2 if dim < 1024 else 4
    # edges on multiples of 16 (vector-register widths keep the blocks aligned)
    return [0] + [min(dim, 16 * round(i * dim / (16 * nb))) for i in range(1, nb)] + [dim]


def add_gram_(
    out: torch.Tensor, rows: torch.Tensor, diagonal: torch.Tensor | None = None
) -> torch.Tensor:
    """``out += rows^T rows`` (``out``: D x D float64; the product runs in ``rows``' dtype),
    with the product's diagonal replaced by ``diagonal`` (D,) when given (added in its own
    dtype: float64 squares stay exact under float32 products); returns ``out``.

    Example:
        >>> x = torch.randn(50, 300, generator=torch.Generator().manual_seed(0))
        >>> out = add_gram_(torch.zeros(300, 300, dtype=torch.float64), x)
        >>> bool(torch.allclose(out, (x.T @ x).double(), rtol=1e-5, atol=1e-4))
        True
    """
    if _linalg.numpy_route(rows):  # numpy's syrk: one triangle, half the GEMM's work
        product = _linalg.gram(rows, rows=False)
        if diagonal is not None:
            product.diagonal().copy_(diagonal)
        return out.add_(product)
    edges = gram_blocks(rows.shape[1], rows.device)
    for i in range(len(edges) - 1):
        a0, a1 = edges[i], edges[i + 1]
        left = rows[:, a0:a1]
        for j in range(i, len(edges) - 1):
            b0, b1 = edges[j], edges[j + 1]
            block = left.T @ rows[:, b0:b1]
            if i == j:
                target = out[a0:a1, a0:a1]
                if diagonal is not None:  # added in its own dtype, not the product's
                    block.diagonal().zero_()
                    target.diagonal().add_(diagonal[a0:a1])
                target += block
            else:
                out[a0:a1, b0:b1] += block
                out[b0:b1, a0:a1] += block.T
    return out
