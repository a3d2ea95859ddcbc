"""Class-sharded statistics for vocabulary-scale class counts, on ``torch.distributed``.

:class:`ShardedAnalyzer` splits K integer classes (a vocabulary, say) into W contiguous
slices, one per rank; each rank keeps :class:`~collapsekit.stats.class_stats.ClassStats` of
its own classes only, so the per-class state costs K x D / W per rank instead of K x D.
Rows are routed to the rank that owns their label (``all_to_all``), and the neural-collapse
metrics are computed by the same kernel as in one process
(:func:`~collapsekit.functional.neural_collapse.neural_collapse_from_moments`), its sums over
classes done across ranks (:class:`~collapsekit.engine.class_ring.RankShards`: D x D
all-reduces, and the class-pair sums tile by tile round a ring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import torch

from collapsekit._validation import (
    as_tensor,
    check_count,
    check_features,
    check_labels,
    check_positive_int,
    finite_and_wide_enough,
    usable_device,
)
from collapsekit.functional.class_shards import ONE_PROCESS, ClassReduce
from collapsekit.functional.ncc_agreement import ncc_shard_best
from collapsekit.functional.neural_collapse import NC_KEYS, neural_collapse_from_moments
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats.class_stats import ClassStats, validated_global_mean

#: A second pass: a zero-argument callable returning a fresh iterable of batches, each the
#: rows (N x D) or a tuple whose first item is the rows.
Batches = Callable[[], Iterable[Any]]
#: Version of :meth:`ShardedAnalyzer.state_dict` (a state of another version is refused).
_STATE_VERSION = 1


class ShardedAnalyzer:
    """Neural-collapse statistics with the classes sharded across the ranks of a process
    group: rank r keeps the classes ``bounds[r] .. bounds[r+1] - 1`` (contiguous slices).

    Args:
        num_classes: K; labels are integers ``0 .. K-1`` (e.g. token ids). K >= world size.
        dim: feature width D.
        group: the ``torch.distributed`` process group (default: the world; without
            torch.distributed one process holds every class).
        device: where the statistics live (default CPU; CUDA tensors for NCCL).
        global_mean: ``"class"`` (mean of class means) or ``"sample"``, as in :class:`Analyzer`.
        tile_rows: edge of the class-pair tiles (default: from ``tile_bytes``).

    ``update`` only stages the batch; :meth:`exchange` (collective: every rank calls it the
    same number of times, e.g. once per step) routes the staged rows to their owners, and
    :meth:`compute` exchanges what is left. Empty classes (labels that never occur) are left
    out of every metric, as :class:`Analyzer` does.

    Memory per rank: K/W x (12 D + 16) bytes of class state, D x D x 8 of pooled scatter,
    plus the staged rows; :meth:`compute` adds about three float64 copies of the own shard's
    centred means and one visiting shard (``benchmarks/README.md``, "Class-sharded
    statistics").

    Example (one process: the shard is every class):
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(300) % 6
        >>> x = torch.randn(300, 8, generator=g) + 5 * torch.eye(8)[y]
        >>> s = ShardedAnalyzer(num_classes=10, dim=8)
        >>> s.update(x, y)
        >>> from collapsekit import neural_collapse
        >>> abs(s.compute()["nc1"] / neural_collapse(x, y)["nc1"] - 1) < 1e-9
        True
    """

    # size: the constructor's options, each a distinct setting
    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        group: Any = None,
        device: torch.device | str | None = None,
        global_mean: Literal["class", "sample"] = "class",
        rtol: float | None = None,
        tile_bytes: int = 256 * 2**20,
        tile_rows: int | None = None,
    ) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.dim = check_positive_int(dim, "dim")
        self.global_mean = validated_global_mean(global_mean)
        self.tile_rows = None if tile_rows is None else check_positive_int(tile_rows, "tile_rows")
        self.group = group
        self.device = usable_device(device) if device is not None else torch.device("cpu")
        self.shards: ClassReduce = ONE_PROCESS
        self.rank, self.world = 0, 1
        if distributed_active():
            from collapsekit.engine.class_ring import RankShards

            ring = RankShards(group, self.device)
            self.shards, self.rank, self.world = ring, ring.rank, ring.world
        if self.num_classes < self.world:
            raise ValueError(
                f"num_classes: expected at least one class per rank ({self.world} ranks), "
                f"received {self.num_classes}; use Analyzer for so few classes"
            )
        self.bounds = [r * self.num_classes // self.world for r in range(self.world + 1)]
        self.first, self.stop = self.bounds[self.rank], self.bounds[self.rank + 1]
        self.stats = ClassStats(
            self.stop - self.first,
            self.dim,
            device=self.device,
            global_mean=self.global_mean,
            rtol=rtol,
            tile_bytes=tile_bytes,
        )
        self._staged: list[tuple[torch.Tensor, torch.Tensor]] = []
        #: bytes this rank sent to other ranks while routing rows (counts included)
        self.routed_bytes = 0

    # ------------------------------------------------------------------ accumulation
    def update(self, features: Any, labels: Any) -> None:
        """Stage a batch: ``features`` (N x D, any float dtype) and integer ``labels`` in
        ``0 .. K-1`` (any rank may see any class). Validated now; nothing is sent until
        :meth:`exchange`."""
        x = check_features(features, "features", self.dim, self.device, 0, check_finite=False)
        x = finite_and_wide_enough(x, "features")
        y = check_labels(labels, x.shape[0], self.num_classes, "labels", self.device)
        if x.shape[0]:
            self._staged.append((x, y))

    def exchange(self) -> None:
        """Route the staged rows to the ranks owning their classes and add them to the class
        statistics (collective: every rank calls it together, with or without staged rows)."""
        from collapsekit.engine.class_routing import route_to_owners

        staged, self._staged = self._staged, []
        if staged:
            x = torch.cat([s[0] for s in staged])
            y = torch.cat([s[1] for s in staged])
        else:
            x = torch.zeros(0, self.dim, dtype=torch.float32, device=self.device)
            y = torch.zeros(0, dtype=torch.long, device=self.device)
        if self.world > 1:
            x, y, sent = route_to_owners(x, y, self.bounds, self.group)
            self.routed_bytes += sent
        if x.shape[0]:
            self.stats.update(x, y - self.first)

    # ------------------------------------------------------------------ results
    def compute(
        self,
        weights: Any = None,
        bias: Any = None,
        ood_features: Any = None,
        *,
        second_pass: Batches | None = None,
    ) -> dict[str, float]:
        """The neural-collapse metrics over every rank's rows (collective), equal to one
        process's :class:`Analyzer` on the same rows: NC1, its trace quotient, CDNV, NC2
        (equinorm, equiangularity, max angle, ETF error, hyperspherical energy), NC3
        ``self_duality`` with ``weights``, NC5 with ``ood_features`` and NC4
        ``ncc_agreement`` with ``weights`` and a ``second_pass``.

        Args:
            weights, bias: this rank's classifier rows (``stop - first`` x D, the classes it
                owns; the full K x D is accepted too and sliced); every rank passes them or
                none does.
            ood_features: this rank's out-of-distribution rows (any number, None = 0); NC5
                uses the mean over every rank's rows.
            second_pass: zero-argument callable giving this rank's rows again (any rows: NC4
                counts agreement over whatever each rank feeds).
        """
        self.exchange()
        w, b = self._classifier(weights, bias)
        ood_sum, ood_n = self._ood_sums(ood_features)
        cs, red = self.stats, self.shards
        present = cs.present_classes()
        means, counts = cs.class_means(), cs.counts[present]
        mu_g = self._global_mean(means, counts)
        ood_mean = None
        if ood_n:
            ood_mean = ood_sum / ood_n
        out = neural_collapse_from_moments(
            means=means,
            counts=counts,
            within_scatter=cs.within_scatter(),
            class_sq_deviation=cs.class_sq_deviation(),
            global_mean=mu_g,
            weights=None if w is None else w[present],
            ood_mean=ood_mean,
            rtol=cs.rtol,
            tile_bytes=cs.tile_bytes,
            tile_rows=self.tile_rows,
            shards=red,
        )
        if w is not None and second_pass is not None:
            out["ncc_agreement"] = self._ncc(second_pass, w, b, means - mu_g, present, mu_g)
        return {key: out[key] for key in NC_KEYS if key in out}

    def _global_mean(self, means: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """mu_G over every rank (mean of class means, or the sample mean)."""
        red = self.shards
        k = int(red.sum(torch.tensor([means.shape[0]], device=means.device)))
        if k < 2:
            raise ValueError(
                f"labels: expected rows from at least 2 classes over every rank, received {k} "
                "non-empty class(es); class-separation statistics need two or more classes"
            )
        if self.global_mean == "class":
            return red.sum(means.sum(0)) / k
        n = counts.double()
        return red.sum((n[:, None] * means).sum(0)) / red.sum(n.sum())

    def _agree(self, problem: str | None) -> None:
        """Raise ValueError on every rank when any rank found ``problem`` (before any
        collective that the failing rank would not join)."""
        failed = torch.tensor([0 if problem is None else 1], device=self.device)
        if int(self.shards.max(failed)) and problem is None:
            raise ValueError("weights: another rank rejected its inputs (see its error)")
        if problem is not None:
            raise ValueError(problem)

    def _classifier(
        self, weights: Any, bias: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """This rank's classifier rows and bias (float64), checked on every rank together."""
        own = self.stop - self.first
        w = b = None
        problem = None
        try:
            if weights is None and bias is not None:
                raise ValueError("bias: expected weights with it (NC3/NC4 need the classifier)")
            if weights is not None:
                w = check_features(weights, "weights", self.dim, self.device).double()
                if w.shape[0] == self.num_classes and own != self.num_classes:
                    w = w[self.first : self.stop]
                if w.shape[0] != own:
                    raise ValueError(
                        f"weights: expected this rank's {own} classifier rows (classes "
                        f"{self.first}..{self.stop - 1}) or all {self.num_classes}, received "
                        f"{w.shape[0]} rows"
                    )
            if bias is not None and w is not None:
                b = as_tensor(bias, "bias", self.device).double().flatten()
                if b.numel() == self.num_classes and own != self.num_classes:
                    b = b[self.first : self.stop]
                if b.numel() != own or not bool(torch.isfinite(b).all()):
                    raise ValueError(
                        f"bias: expected {own} finite values (this rank's classes), received "
                        f"{b.numel()} values"
                    )
        except ValueError as err:
            problem = str(err)
        self._agree(problem)
        present = torch.tensor([int(w is not None)], device=self.device)
        if int(self.shards.sum(present)) not in (0, self.world):
            raise ValueError("weights: expected every rank to pass its classifier rows, or none")
        return w, b

    def _ood_sums(self, ood_features: Any) -> tuple[torch.Tensor, int]:
        """(sum, count) of every rank's out-of-distribution rows."""
        problem = None
        total = torch.zeros(self.dim + 1, dtype=torch.float64, device=self.device)
        try:
            if ood_features is not None:
                ood = check_features(ood_features, "ood_features", self.dim, self.device, 0)
                total[:-1] = ood.double().sum(0)
                total[-1] = ood.shape[0]
        except ValueError as err:
            problem = str(err)
        self._agree(problem)
        total = self.shards.sum(total)
        return total[:-1], int(total[-1])

    # ------------------------------------------------------------------ NC4
    def ncc_agreement(self, batches: Batches, weights: Any, bias: Any = None) -> float:
        """NC4: the fraction of every rank's rows (this rank's from ``batches``) whose
        classifier argmax equals their nearest class mean, exact over every class
        (collective; ``weights``/``bias`` as in :meth:`compute`)."""
        out = self.compute(weights, bias, second_pass=batches)
        return out["ncc_agreement"]

    def _ncc(
        self,
        batches: Batches,
        w: torch.Tensor,
        b: torch.Tensor | None,
        centred: torch.Tensor,
        present: torch.Tensor,
        mu_g: torch.Tensor,
    ) -> float:
        rows = _rows_of(batches(), self.dim, self.device)
        ids = present + self.first
        if self.world == 1:
            agree, total = _ncc_one_process(rows, centred, ids, mu_g, w, b)
        else:
            from collapsekit.engine.class_ring import RankShards, ncc_ring

            assert isinstance(self.shards, RankShards)
            agree, total = ncc_ring(self.shards, rows, centred, ids, mu_g, w, b, self.first)
        counts = self.shards.sum(torch.tensor([agree, total], device=self.device))
        if int(counts[1]) == 0:
            raise ValueError("second_pass: expected rows on some rank, received none")
        return int(counts[0]) / int(counts[1])

    # ------------------------------------------------------------------ save and restore
    def state_dict(self) -> dict[str, Any]:
        """This rank's state (local, not collective): its shard's class statistics, the rows
        staged and not yet exchanged, and the layout they belong to (K, D, the number of
        ranks and this rank). Each rank saves its own; :meth:`load_state_dict` restores it
        on the same rank of the same number of ranks."""
        xs = [s[0] for s in self._staged]
        ys = [s[1] for s in self._staged]
        return {
            "version": _STATE_VERSION,
            "num_classes": self.num_classes,
            "dim": self.dim,
            "world": self.world,
            "rank": self.rank,
            "stats": self.stats.state_dict(),
            "staged_rows": torch.cat(xs).clone() if xs else None,
            "staged_labels": torch.cat(ys).clone() if ys else None,
            "routed_bytes": self.routed_bytes,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` of the same rank; everything is checked before anything
        changes (a state of another layout, or with bad staged rows, raises ValueError)."""
        for key, want in (
            ("version", _STATE_VERSION),
            ("num_classes", self.num_classes),
            ("dim", self.dim),
            ("world", self.world),
            ("rank", self.rank),
        ):
            if state.get(key) != want:
                raise ValueError(
                    f"state[{key!r}]: expected {want!r} (this ShardedAnalyzer's), received "
                    f"{state.get(key)!r}; restore each rank's own state into a ShardedAnalyzer "
                    "of the same num_classes and dim on the same number of ranks"
                )
        staged: list[tuple[torch.Tensor, torch.Tensor]] = []
        rows, labels = state.get("staged_rows"), state.get("staged_labels")
        if (rows is None) != (labels is None):
            raise ValueError(
                "state['staged_labels']: expected staged labels exactly when staged rows are "
                "saved, received one without the other"
            )
        if rows is not None:
            x = check_features(rows, "state['staged_rows']", self.dim, self.device, 0)
            y = check_labels(
                labels, x.shape[0], self.num_classes, "state['staged_labels']", self.device
            )
            staged = [(x, y)]
        routed = check_count(state.get("routed_bytes"), "state['routed_bytes']", 0)
        self.stats.load_state_dict(state["stats"])  # validated whole before it changes
        self._staged, self.routed_bytes = staged, routed

    # ------------------------------------------------------------------ memory
    def state_bytes(self) -> int:
        """Bytes of this rank's class statistics (the staged rows not included)."""
        cs = self.stats
        return sum(t.numel() * t.element_size() for t in cs._tensors().values())

    @property
    def owned(self) -> range:
        """The class ids this rank keeps."""
        return range(self.first, self.stop)


def _rows_of(batches: Iterable[Any], dim: int, device: torch.device) -> Iterator[torch.Tensor]:
    """The rows of each batch (a tensor, or a tuple whose first item is one), validated."""
    for batch in batches:
        x = batch[0] if isinstance(batch, tuple | list) else batch
        yield check_features(x, "features", dim, device, 0)


def _ncc_one_process(
    rows: Iterator[torch.Tensor],
    centred: torch.Tensor,
    ids: torch.Tensor,
    mu_g: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
) -> tuple[int, int]:
    sq = centred.square().sum(1)
    agree = total = 0
    for x in rows:
        best = ncc_shard_best(x.double(), centred, sq, mu_g, w, b)
        best = best._replace(mean_class=ids[best.mean_class])
        agree += int((best.logit_class == best.mean_class).sum())
        total += x.shape[0]
    return agree, total
