"""Benchmark: FeatureQueue.enqueue + get costs O(batch), independent of the queue size K.
Results of the latest run: BENCHMARKS.md (the table there is this script's output).

For K = 1k ... 1M at batch 256 (d = 384, MiniLM's width; VA labels, sample ids) this prints the median time of one
`enqueue(...)` + `get()` call on a full (wrapping) queue, and its ratio to copying one batch of features into a
preallocated buffer (`buf.copy_(batch)`, the least any queue must do), the two timed interleaved (copy, step, copy,
step, ...). For contrast it also times `get(copy=True)`, which clones the filled queue and so grows with K.

    python bench/bench_queue.py              # CPU, default sizes
    python bench/bench_queue.py --device cuda --repeats 200
"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (puts the repo root on sys.path)
import argparse, statistics, time  # noqa: E402

import torch  # noqa: E402

from carl_nb.queue import FeatureQueue  # noqa: E402


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
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = bl.sync_for(dev)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(a.batch, a.dim, generator=g).to(dev)
    va = (torch.rand(a.batch, 2, generator=g) * 2 - 1).to(dev)
    ids = torch.arange(a.batch, device=dev)
    buf = torch.empty_like(feats)
    bl.header("bench_queue.py: FeatureQueue enqueue + get vs the queue size K", device=str(dev))
    print(f"batch {a.batch}, d = {a.dim}, VA labels + sample ids; medians of {a.repeats} interleaved calls (copy, "
          f"step, copy, step, ...) after 5 warm-up rounds; `get(copy=True)`: median of {max(5, a.repeats // 10)}.\n")
    rows = []
    for K in [int(s) for s in a.sizes.split(",")]:
        q = FeatureQueue(dim=a.dim, size=K).to(dev)
        while not q.is_full: q.enqueue(feats, va=va, sample_ids=ids)    # measure the steady state: full and wrapping
        def step(): q.enqueue(feats, va=va, sample_ids=ids); return q.get()
        t = bl.interleaved({"copy": lambda: buf.copy_(feats), "step": step}, rounds=a.repeats, warmup=5, sync=sync)
        t_copy, t_step = bl.med(t["copy"]), bl.med(t["step"])
        t_clone = _median_time(lambda: q.get(copy=True), max(5, a.repeats // 10), sync)
        rows.append([f"{K:,}", f"{t_step * 1e6:.1f}", bl.spread(t["step"]), f"{t_copy * 1e6:.1f}",
                     f"{t_step / t_copy:.0f}", f"{t_clone * 1e6:.0f}"])
        del q
    bl.table(["K", "enqueue + get (µs)", "±", "copy one batch (µs)", "ratio to copy", "get(copy=True) (µs)"], rows)


if __name__ == "__main__":
    main()
