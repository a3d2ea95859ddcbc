"""Class-sharded statistics: memory and traffic per rank, measured at small scale.

Spawns W gloo processes on this machine; each feeds N random rows with labels drawn from K
classes (uniform, so about (W-1)/W of the rows leave their rank), exchanges, computes the NC
metrics with a classifier and an NC4 second pass, and reports per rank: the bytes of class
state (``ShardedAnalyzer.state_bytes``), the peak resident memory that ``compute()`` adds
(VmHWM after ``clear_refs``, Linux), the bytes routed, the bytes sent round the ring and the
all-reduce payloads. Timings are not the point (2 cores shared by W processes).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_sharded.py --classes 4096 \
        --dim 64 --world 4 --rows 2000
"""

from __future__ import annotations

import argparse
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from collapsekit.engine.sharded import ShardedAnalyzer


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _worker(rank: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.world)
    g = torch.Generator().manual_seed(rank)
    k, d = args.classes, args.dim
    s = ShardedAnalyzer(k, d)
    batches = []
    for _ in range(args.batches):
        y = torch.randint(0, k, (args.rows // args.batches,), generator=g)
        x = torch.randn(y.numel(), d, generator=g) + torch.sin(y[:, None] * 0.37 + torch.arange(d))
        batches.append(x)
        s.update(x, y)
        s.exchange()
    w = torch.randn(s.stop - s.first, d, generator=g)
    routed = s.routed_bytes
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size
    before = _status("VmRSS")
    again = torch.cat(batches)[: args.second_pass_rows].split(500)
    out_metrics = s.compute(w, second_pass=lambda: iter(again))
    peak = _status("VmHWM") - before
    sent = dict(s.shards.sent) if hasattr(s.shards, "sent") else {}
    torch.save(
        {
            "own": s.stop - s.first,
            "state": s.state_bytes(),
            "compute_peak": peak,
            "routed": routed,
            "rows_fed": args.rows,
            "sent": sent,
            "nc1": out_metrics["nc1"],
        },
        f"{out}.{rank}",
    )
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--classes", type=int, default=16384)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--world", type=int, default=4)
    p.add_argument("--rows", type=int, default=40000)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--second-pass-rows", type=int, default=1000, help="NC4 rows per rank")
    args = p.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = f"/tmp/bench_sharded.{os.getpid()}"
    mp.spawn(_worker, args=(port, args, out), nprocs=args.world)
    k, d, w = args.classes, args.dim, args.world
    mib = 2.0**20
    print(f"K={k} D={d} W={w} rows/rank={args.rows}")
    print(
        "rank own_classes state_MiB formula_MiB compute_peak_MiB routed_B/row ring_MiB allred_MiB"
    )
    for r in range(w):
        res = torch.load(f"{out}.{r}", weights_only=False)
        os.remove(f"{out}.{r}")
        formula = res["own"] * (12 * d + 16) + 8 * d * d
        print(
            f"{r} {res['own']} {res['state'] / mib:.2f} {formula / mib:.2f} "
            f"{res['compute_peak'] / mib:.1f} {res['routed'] / res['rows_fed']:.1f} "
            f"{res['sent'].get('ring', 0) / mib:.2f} {res['sent'].get('all_reduce', 0) / mib:.2f}"
        )
    shard_f64 = (k // w) * d * 8 / mib
    print(f"one float64 K/W x D shard: {shard_f64:.2f} MiB; nc1 = {res['nc1']:.6g}")


if __name__ == "__main__":
    main()
