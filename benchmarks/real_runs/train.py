"""Train the small CPU reproductions of the real-runs battery and write their fixtures.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/real_runs/train.py CASE [CASE ...]
    CASE: minority, cnn, simsiam, infonce, simclr, minilm, all

Each case writes ``tests/verdict/real_runs/<fixture>.npz``; then
``python benchmarks/real_runs/expected.py`` recomputes the float64 checks, the manifest and
``docs/real_runs.md``. Seeds are fixed; nothing downloads.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import minilm
import selfsup
import supervised

CASES = {
    "minority": supervised.minority,
    "cnn": supervised.terminal_cnn,
    "simsiam": selfsup.simsiam_no_stopgrad,
    "infonce": selfsup.linear_infonce,
    "simclr": selfsup.simclr,
    "minilm": minilm.topics,
}


def main() -> None:
    """Run the named cases in order."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", choices=[*CASES, "all"])
    names = parser.parse_args().cases
    for name in CASES if "all" in names else names:
        CASES[name]()


if __name__ == "__main__":
    main()
