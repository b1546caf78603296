"""Benchmark of the contrastive/angular losses against the floor `cross_entropy(q @ keys.T / τ)`.

Run:  python bench/bench_losses.py            (all sections, CPU; the B=4096, K=65,536 section takes minutes)
      python bench/bench_losses.py --quick    (skip the large section)

Prints markdown tables; the numbers of one run are recorded in bench/RESULTS_losses.md.
* forward+backward time of each loss vs the floor at B=256, d=384, K=0 and K=4096 (best of interleaved repeats);
* speed-up of the vectorised loss (forward+backward) over its loop reference (forward only) at B=256, d=384, K=0;
* B=4096 with K=65,536 queue keys: time and peak resident memory, each loss in a fresh subprocess.
"""
import argparse, json, os, platform, resource, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # carl_nb importable from a clone

import torch
import torch.nn.functional as F

from carl_nb.losses import info_nce, supcon_loss, va_contrastive_loss, arccon_loss
from carl_nb.testing.contrastive import ref_info_nce, ref_supcon, ref_va_contrastive, ref_arccon

D, TAU = 384, 0.05


def make_inputs(B, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(B, D, generator=g), dim=1).requires_grad_()
    k = F.normalize(torch.randn(B, D, generator=g), dim=1).requires_grad_()
    e = F.normalize(torch.randn(K, D, generator=g), dim=1) if K else None
    va = torch.rand(B, 2, generator=g) * 2 - 1
    vk = (va + 0.05 * torch.randn(B, 2, generator=g)).clamp(-1, 1)
    ve = torch.rand(K, 2, generator=g) * 2 - 1 if K else None
    y = torch.randint(0, 32, (B,), generator=g)
    ye = torch.randint(0, 32, (K,), generator=g) if K else None
    return dict(q=q, k=k, e=e, va=va, vk=vk, ve=ve, y=y, ye=ye)


def losses(x):
    "name -> closure computing the scalar loss (forward only)."
    q, k, e = x["q"], x["k"], x["e"]
    keys = lambda: k if e is None else torch.cat([k, e])
    qkeys = lambda: q if e is None else torch.cat([q, e])
    tgt = torch.arange(len(q))
    return {
        "floor (q, k)": lambda: F.cross_entropy(q @ keys().T / TAU, tgt),
        "floor (z, z)": lambda: F.cross_entropy(q @ qkeys().T / TAU, tgt),
        "normalised floor (q, k)": lambda: F.cross_entropy(F.normalize(q, dim=1) @ F.normalize(keys(), dim=1).T / TAU, tgt),
        "normalised floor (z, z)": lambda: F.cross_entropy(F.normalize(q, dim=1) @ F.normalize(qkeys(), dim=1).T / TAU, tgt),
        "info_nce": lambda: info_nce(q, k, temperature=TAU, extra_keys=e),
        "supcon_loss": lambda: supcon_loss(q, x["y"], temperature=TAU, extra_keys=e, extra_labels=x["ye"]),
        "va_contrastive_loss (hybrid)": lambda: va(q, k, x, e, "hybrid"),
        "va_contrastive_loss (soft)": lambda: va(q, k, x, e, "soft"),
        "va_contrastive_loss (weighted_neg)": lambda: va(q, k, x, e, "weighted_neg"),
        "arccon_loss": lambda: arccon_loss(q, k, margin_deg=10.0, temperature=TAU, extra_keys=e),
    }


def va(q, k, x, e, variant):
    return va_contrastive_loss(q, k, x["va"], x["vk"], temperature=TAU, variant=variant, extra_keys=e, extra_va=x["ve"])

FLOOR_OF = {"supcon_loss": "floor (z, z)"}  # supcon's keys are the anchors themselves


def fwd_bwd(f, x):
    x["q"].grad = None; x["k"].grad = None
    f().backward()


def time_all(B, K, repeats):
    x = make_inputs(B, K)
    fs = losses(x)
    for f in fs.values(): fwd_bwd(f, x)  # warm-up
    times = {n: [] for n in fs}
    for _ in range(repeats):  # interleaved, so a noisy neighbour hits every loss alike
        for n, f in fs.items():
            t0 = time.perf_counter(); fwd_bwd(f, x); times[n].append(time.perf_counter() - t0)
    return {n: min(t) for n, t in times.items()}


def section_floor(repeats):
    print(f"\n## Forward+backward vs the floor (B=256, d={D}, best of {repeats} interleaved runs)\n")
    print("floor = `cross_entropy(q @ keys.T / τ)` on unit-norm leaf tensors; normalised floor adds `F.normalize` of q "
          "and keys inside (the losses normalise their inputs).\n")
    print("| loss | K | time (ms) | floor (ms) | ratio to floor | normalised floor (ms) | ratio to normalised floor |\n|---|---|---|---|---|---|---|")
    for K in (0, 4096):
        med = time_all(256, K, repeats)
        for n, t in med.items():
            if "floor" in n: continue
            fl = FLOOR_OF.get(n, "floor (q, k)"); fl, nfl = med[fl], med["normalised " + fl]
            print(f"| {n} | {K} | {t*1e3:.2f} | {fl*1e3:.2f} | {t/fl:.2f}x | {nfl*1e3:.2f} | {t/nfl:.2f}x |")


def section_reference():
    B = 256
    x = make_inputs(B, 0)
    q, k, va, vk, y = x["q"].detach(), x["k"].detach(), x["va"], x["vk"], x["y"]
    refs = {
        "info_nce": lambda: ref_info_nce(q, k, temperature=TAU),
        "supcon_loss": lambda: ref_supcon(q, y, temperature=TAU),
        "va_contrastive_loss (hybrid)": lambda: ref_va_contrastive(q, k, va, vk, temperature=TAU),
        "va_contrastive_loss (soft)": lambda: ref_va_contrastive(q, k, va, vk, temperature=TAU, variant="soft"),
        "va_contrastive_loss (weighted_neg)": lambda: ref_va_contrastive(q, k, va, vk, temperature=TAU,
                                                                         variant="weighted_neg"),
        "arccon_loss": lambda: ref_arccon(q, k, margin_deg=10.0, temperature=TAU),
    }
    med = time_all(B, 0, 20)
    print(f"\n## Speed-up over the loop reference (B={B}, d={D}, K=0; reference forward timed once, loss forward+backward best of 20)\n")
    print("| loss | loop reference (s) | vectorised fwd+bwd (ms) | speed-up | max abs diff |\n|---|---|---|---|---|")
    fs = losses(x)
    for n, ref in refs.items():
        t0 = time.perf_counter(); r = ref(); tr = time.perf_counter() - t0
        diff = (fs[n]().detach().double() - r.double()).abs().item()
        print(f"| {n} | {tr:.2f} | {med[n]*1e3:.2f} | {tr/med[n]:.0f}x | {diff:.1e} |")


def big_child(name, B, K):
    "Run one loss at (B, K) in this fresh process; print JSON with time and peak RSS above the inputs."
    x = make_inputs(B, K)
    f = losses(x)[name]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter(); fwd_bwd(f, x); t = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(name=name, seconds=t, peak_extra_gib=(peak - base) / 2**20, peak_gib=peak / 2**20,
                          finite=bool(torch.isfinite(x["q"].grad).all()))))


def section_big(B=4096, K=65536):
    mat = B * (B + K) * 4 / 2**30
    print(f"\n## B={B}, K={K:,}, d={D} on CPU (forward+backward once, fresh process per loss)\n")
    print(f"One (B, B+K) float32 matrix is {mat:.2f} GiB.\n")
    print("| loss | time (s) | peak RSS above inputs (GiB) | in (B, B+K) matrices | finite grads |\n|---|---|---|---|---|")
    for name in ["floor (q, k)", "info_nce", "supcon_loss", "va_contrastive_loss (hybrid)", "va_contrastive_loss (soft)",
                 "va_contrastive_loss (weighted_neg)", "arccon_loss"]:
        out = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--child", name, str(B), str(K)],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode} | | | |"); continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['seconds']:.1f} | {r['peak_extra_gib']:.2f} | {r['peak_extra_gib']/mat:.1f} | {r['finite']} |")


def pml_child(name, B):
    "Time one pytorch-metric-learning loss at batch B in this process (run under a memory cap by `section_pml`)."
    from pytorch_metric_learning import losses as pml
    x = make_inputs(B, 0)
    q, k = x["q"], x["k"]
    if name == "NTXentLoss":  # SimCSE-style: 2B embeddings, row i and i+B share a label
        loss_fn, emb, lab = pml.NTXentLoss(temperature=TAU), lambda: torch.cat([q, k]), torch.arange(B).repeat(2)
    else:
        loss_fn, emb, lab = pml.SupConLoss(temperature=TAU), lambda: q, x["y"]
    f = lambda: loss_fn(emb(), lab)
    fwd_bwd(f, x); times = []
    for _ in range(3):
        t0 = time.perf_counter(); fwd_bwd(f, x); times.append(time.perf_counter() - t0)
    print(json.dumps(dict(seconds=min(times))))


def section_pml(mem_gib=16):
    "pytorch-metric-learning's NTXentLoss and SupConLoss against carl_nb's info_nce / supcon_loss, if it is installed."
    try: import pytorch_metric_learning
    except ImportError:
        print("\n## pytorch-metric-learning: not installed (pip install --no-deps pytorch-metric-learning to compare)"); return
    print(f"\n## Against pytorch-metric-learning {pytorch_metric_learning.__version__} (d={D}, forward+backward, best of 3; "
          f"each in a fresh process capped at {mem_gib} GiB of address space)\n")
    print("| B | pml loss | pml time (ms) | carl_nb loss | carl_nb time (ms) | carl_nb speed-up |\n|---|---|---|---|---|---|")
    for B in (256, 1024):
        ours = time_all(B, 0, 10)
        for pml_name, our_name in (("NTXentLoss", "info_nce"), ("SupConLoss", "supcon_loss")):
            out = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--pml-child", pml_name, str(B),
                                  "--mem-gib", str(mem_gib)], capture_output=True, text=True)
            if out.returncode:
                err = (out.stderr.strip().splitlines() or [str(out.returncode)])[-1][:80]
                print(f"| {B} | {pml_name} | failed ({err}) | {our_name} | {ours[our_name]*1e3:.2f} | - |"); continue
            t = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
            print(f"| {B} | {pml_name} | {t*1e3:.2f} | {our_name} | {ours[our_name]*1e3:.2f} | {t/ours[our_name]:.0f}x |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--pml-child", nargs=2)
    ap.add_argument("--mem-gib", type=float, default=16)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.pml_child:
        cap = int(a.mem_gib * 2**30); resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        pml_child(a.pml_child[0], int(a.pml_child[1])); sys.exit()
    if a.child:
        big_child(a.child[0], int(a.child[1]), int(a.child[2])); sys.exit()
    print(f"# carl_nb losses benchmark\n\ntorch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs visible")
    section_floor(a.repeats)
    section_reference()
    section_pml()
    if not a.quick: section_big()
