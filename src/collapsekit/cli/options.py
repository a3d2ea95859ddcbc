"""The options ``analyze`` and ``compare`` share, defined once (typer option objects; the
commands in :mod:`collapsekit.cli.main` name them as parameter defaults)."""

from __future__ import annotations

import typer

from collapsekit.cli.inputs import DEFAULT_MAX_MEMORY_MB

EMB = typer.Argument(..., help="Embeddings: .npy .npz .pt .safetensors .parquet .h5")
OPT_LABELS = typer.Option(
    None, "--labels", "-l", help="Labels file (or a 'labels' entry in the embeddings file)."
)
OPT_KEY = typer.Option("embeddings", "--key", help="Array key / parquet column of the embeddings.")
OPT_LKEY = typer.Option("labels", "--labels-key", help="Array key / parquet column of the labels.")
OPT_BOOT = typer.Option(
    None, "--bootstrap", help="Bootstrap resamples (default: 200 when N <= 500)."
)
OPT_SEED = typer.Option(
    0, "--seed", help="Seeds the row sample, probe folds, bootstrap and isotropic baseline."
)
OPT_DEVICE = typer.Option(
    None, "--device", help="Torch device for the statistics, e.g. cpu, cuda, cuda:1 (default cpu)."
)
OPT_THRESHOLD = typer.Option(
    None,
    "--threshold",
    help="Change a verdict rule, name=value (repeatable), e.g. --threshold neural_nc1=0.05; "
    "the names are the keys of the report's verdict thresholds.",
)
OPT_WKEY = typer.Option(
    None,
    "--weights-key",
    help="Entry of the weights file holding the K x D classifier matrix (e.g. fc.weight in a "
    "checkpoint's state_dict); needed when the file holds several entries, none named 'weights'.",
)
OPT_BIAS = typer.Option(
    None,
    "--bias",
    help="Classifier bias for NC4: a file, or the entry name (e.g. fc.bias) inside the --weights "
    "file.",
)
OPT_BATCH = typer.Option(65536, "--batch-size", help="Rows read per batch.")
OPT_MEM = typer.Option(
    DEFAULT_MAX_MEMORY_MB,
    "--max-memory-mb",
    help="Budget for the exact per-class structures (per-class scatters); above it those "
    "metrics come from the row sample. Files are always streamed batch by batch.",
)
OPT_PRECISION = typer.Option(
    "float64",
    "--precision",
    help="float64 (default): exact float64 products, spectra exact to the eigensolver. "
    "float32: each batch worked in float32, about 3x faster for vocabulary-scale files; the "
    "spectrum's tail below ~1e-7 of its top eigenvalue is not resolved (the report says so).",
)
OPT_SAMPLE = typer.Option(
    20_000,
    "--sample-rows",
    help=(
        "Seeded row sample for the probe (all rows when N is smaller); uniformity uses at "
        "most 4,096 of them."
    ),
)
OPT_CLASSES = typer.Option(
    None,
    "--class-names",
    help="Text file, one class name per line: the class of weight row 0, 1, ... "
    "(needed with --weights when labels are names).",
)
OPT_FORCE = typer.Option(
    False, "--force", help="Allow an output path to be one of the input files (overwrite it)."
)
OPT_OOD = typer.Option(
    None,
    "--ood",
    help="Out-of-distribution embeddings from the same layer (M x D, read with --key): adds "
    "NC5 (ood_orthogonality) and NECO (neco_ood_mean, neco_id_mean); needs labels.",
)
OPT_NO_PROBE = typer.Option(
    False,
    "--no-probe",
    help="Skip the linear probe (its cross-validated fit is the slowest step on large "
    "samples); the class-collapse test then uses the silhouette.",
)
