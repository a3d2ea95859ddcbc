import os
import sys

# One intra-op thread per test process: `pytest -n 2` runs two workers on a 2-core machine, and
# two OpenMP threads per worker would put four spinning threads on two cores (a busy machine
# then slows some kernels down by 30x). Set before torch is imported so that every subprocess a
# test spawns (CLI runs, gloo workers) inherits one thread too.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
torch.set_num_threads(1)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
