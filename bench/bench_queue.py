"""Benchmark: FeatureQueue.enqueue + get costs O(batch), independent of the queue size K.

For K = 1k ... 1M at batch 256 (d = 128, VA labels, sample ids) this prints the median time of one
`enqueue(...)` + `get()` call, and its ratio to copying one batch of features into a preallocated buffer
(`buf.copy_(batch)`, the least any queue must do). For contrast it also times `get(copy=True)`, which clones
the filled queue and so grows with K. All numbers in a row come from the same run.

    python bench/bench_queue.py              # CPU, default sizes
    python bench/bench_queue.py --device cuda --repeats 200
"""
import os, sys
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # carl_nb importable from a clone
import argparse, statistics, time

import torch

from carl_nb.queue import FeatureQueue


def _median_time(fn, repeats, sync):
    for _ in range(5): fn()                       # warm-up (allocator, first-touch pages)
    sync(); times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); sync(); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma-separated queue sizes K")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = steadier on a shared machine)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(a.batch, a.dim, generator=g).to(dev)
    va = (torch.rand(a.batch, 2, generator=g) * 2 - 1).to(dev)
    ids = torch.arange(a.batch, device=dev)
    buf = torch.empty_like(feats)
    t_copy = _median_time(lambda: buf.copy_(feats), a.repeats, sync)

    print(f"device={dev}, torch {torch.__version__}, threads={torch.get_num_threads()}, batch={a.batch}, dim={a.dim}, "
          f"repeats={a.repeats} (median)")
    print(f"copy one batch (buf.copy_): {t_copy * 1e6:.1f} µs")
    print(f"{'K':>9} | {'enqueue+get µs':>14} | {'ratio to copy':>13} | {'get(copy=True) µs':>17}")
    print("-" * 64)
    for K in [int(s) for s in a.sizes.split(",")]:
        q = FeatureQueue(dim=a.dim, size=K).to(dev)
        while not q.is_full: q.enqueue(feats, va=va, sample_ids=ids)    # measure the steady state: full and wrapping
        def step(): q.enqueue(feats, va=va, sample_ids=ids); return q.get()
        t_step = _median_time(step, a.repeats, sync)
        t_clone = _median_time(lambda: q.get(copy=True), max(5, a.repeats // 10), sync)
        print(f"{K:>9,} | {t_step * 1e6:>14.1f} | {t_step / t_copy:>13.1f} | {t_clone * 1e6:>17.1f}")
        del q


if __name__ == "__main__":
    main()
