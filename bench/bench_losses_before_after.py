"""Interleaved before/after timing of the losses: the fused-backward implementation of commit 9c79385 against the
plain-autograd one now in carl_nb, in the same process and rounds, against the same floor (forward+backward).
Its last results: BENCHMARKS.md.

Run:  git show 9c79385:carl_nb/losses/contrastive.py > /tmp/old/carl_old/losses/contrastive.py (and angular.py, with
      its import changed to carl_old.losses.contrastive; empty __init__.py files), then
      PYTHONPATH=/tmp/old taskset -c 1 python bench/bench_losses_before_after.py --rounds 200
"""
import argparse, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn.functional as F

import carl_nb.losses as new
from carl_old.losses import contrastive as old_c, angular as old_a

D, TAU = 384, 0.05


def inputs(B, K, seed=0):
    "The inputs of bench_losses.py, as a tuple (q, k, e, va, vk, ve, y, ye)."
    from bench_losses import make_inputs
    return tuple(make_inputs(B, K, seed).values())


def cases(q, k, e, va, vk, ve, y, ye):
    keys = k if e is None else torch.cat([k, e])
    t = torch.arange(len(q))
    va_new = dict(temperature=TAU, extra_keys=e, extra_va=ve)
    return {
        "floor": (lambda: F.cross_entropy(q @ keys.T / TAU, t),) * 2,
        "info_nce": (lambda: old_c.info_nce(q, k, TAU, e), lambda: new.info_nce(q, k, temperature=TAU, extra_keys=e)),
        "supcon_loss": (lambda: old_c.supcon_loss(q, y, TAU, e, ye),
                        lambda: new.supcon_loss(q, y, temperature=TAU, extra_keys=e, extra_labels=ye)),
        "va soft": (lambda: old_c.va_contrastive_loss(q, k, va, vk, TAU, extra_keys=e, extra_va=ve),
                    lambda: new.va_contrastive_loss(q, k, va, vk, variant="soft", bandwidth=0.5, **va_new)),
        "va weighted_neg": (lambda: old_c.va_contrastive_loss(q, k, va, vk, TAU, extra_keys=e, extra_va=ve,
                                                              variant="weighted_neg"),
                            lambda: new.va_contrastive_loss(q, k, va, vk, variant="weighted_neg", bandwidth=0.5,
                                                            **va_new)),
        "va hybrid (new default)": (None, lambda: new.va_contrastive_loss(q, k, va, vk, **va_new)),
        "arccon_loss": (lambda: old_a.arccon_loss(q, k, 10.0, TAU, e),
                        lambda: new.arccon_loss(q, k, margin_deg=10.0, temperature=TAU, extra_keys=e)),
    }


def run(B, K, rounds):
    x = inputs(B, K)
    q, k = x[0], x[1]
    fs = [(name, which, f) for name, pair in cases(*x).items() for which, f in zip(("before", "after"), pair) if f]
    best = {}
    for r in range(rounds + 1):
        for name, which, f in fs:
            q.grad = k.grad = None
            t0 = time.perf_counter()
            f().backward()
            dt = time.perf_counter() - t0
            if r: best[name, which] = min(best.get((name, which), 1e9), dt)
    floor = best["floor", "before"]
    print(f"\n### B={B}, K={K}, d={D}: best of {rounds} interleaved rounds; floor {floor * 1e3:.2f} ms\n")
    print("| loss | before (ms) | before / floor | after (ms) | after / floor | change |\n|---|---|---|---|---|---|")
    for name in dict.fromkeys(n for n, _, _ in fs):
        if name == "floor": continue
        b, a = best.get((name, "before")), best[name, "after"]
        bs = f"{b * 1e3:.2f} | {b / floor:.2f}x" if b else "- | -"
        ch = f"{(a / b - 1) * 100:+.0f}%" if b else "-"
        print(f"| {name} | {bs} | {a * 1e3:.2f} | {a / floor:.2f}x | {ch} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    run(256, 0, a.rounds)
    run(256, 4096, max(a.rounds // 5, 10))
