"""Benchmark of the contrastive/angular losses (forward + backward) against the floor
`cross_entropy(normalize(q) @ normalize(keys).T / τ)`, the loop references (carl_nb.testing.contrastive) and
pytorch-metric-learning's NTXentLoss / SupConLoss; peak memory; B=4096 with K=65,536 queue keys.
Results of the latest run: BENCHMARKS.md (the tables there are this script's output).

Run:  python bench/bench_losses.py            (all sections, CPU; the B=4096, K=65,536 section takes minutes)
      python bench/bench_losses.py --quick    (skip the large section)

* forward+backward time of each loss vs the floors at B = 64, 256, 1024, d=384, K=0 and 4096: every loss and
  both floors timed in interleaved rounds (A, B, C, ..., A, B, C, ...), medians after a warm-up round;
* peak memory of each (loss, B, K) above its inputs, in one child process whose allocator returns every block of
  64 KiB or more to the OS on free (mallopt), read from the kernel's peak-RSS counter reset before each call;
* speed-up of the vectorised loss (forward+backward) over its loop reference (forward only) at B=64 and 256;
* pytorch-metric-learning (if installed: `pip install --no-deps pytorch-metric-learning`), each loss in a fresh
  process capped at 16 GiB of address space;
* B=4096 with K=65,536 queue keys: time and peak resident memory, each loss in a fresh subprocess.
"""
import argparse, ctypes, gc, json, os, resource, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (puts the repo root on sys.path)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from carl_nb.losses import info_nce, supcon_loss, va_contrastive_loss, arccon_loss  # noqa: E402
from carl_nb.testing.contrastive import ref_info_nce, ref_supcon, ref_va_contrastive, ref_arccon  # noqa: E402

D, TAU = 384, 0.05
SIZES, QUEUES = (64, 256, 1024), (0, 4096)


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
    tgt = torch.arange(len(q))
    def floor(a, b, norm):
        "cross_entropy([a·bᵀ | a·eᵀ] / τ) with the target on the diagonal: each product once, no gradient for e."
        if norm: a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        logits = a @ b.T
        if e is not None: logits = torch.cat([logits, a @ (F.normalize(e, dim=1) if norm else e).T], 1)
        return F.cross_entropy(logits / TAU, tgt)
    return {
        "floor (q, k)": lambda: floor(q, k, False),
        "floor (z, z)": lambda: floor(q, q, False),
        "normalised floor (q, k)": lambda: floor(q, k, True),
        "normalised floor (z, z)": lambda: floor(q, q, True),
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


def time_all(B, K, rounds, warmup=1):
    "name -> list of seconds of forward+backward, every loss and floor interleaved round after round."
    x = make_inputs(B, K)
    fs = {n: (lambda f=f: fwd_bwd(f, x)) for n, f in losses(x).items()}
    return bl.interleaved(fs, rounds=rounds, warmup=warmup)


def rounds_for(B, K, base):
    "Fewer rounds where one call is long (B=1024 with the queue: ~0.1 s a call on 2 cores)."
    work = B * (B + K)
    return max(5, min(base, int(base * 256 * 4352 / max(work, 1))))


def section_floor(repeats):
    print(f"### Forward+backward vs the floor (d={D}, median of interleaved rounds after one warm-up round)\n")
    print("normalised floor = `cross_entropy([q̂ k̂ᵀ | q̂ êᵀ] / τ)` with q̂, k̂, ê = `F.normalize` of q, k and the K "
          "queue keys inside the timed call (the losses normalise their inputs; this is what to compare with): each "
          "product computed once and no gradient for the queue, i.e. `cross_entropy(q̂ @ k̂.T / τ)` at K=0. Plain "
          "floor = the same on the unit-norm leaf tensors without `F.normalize`. `supcon_loss` is compared with "
          "the `(z, z)` floors (its keys are its anchors).\n")
    rows = []
    for B in SIZES:
        for K in QUEUES:
            n = rounds_for(B, K, repeats)
            t = time_all(B, K, n)
            m = {k: bl.med(v) for k, v in t.items()}
            for name in t:
                if "floor" in name: continue
                fl = FLOOR_OF.get(name, "floor (q, k)")
                nfl, pfl = m["normalised " + fl], m[fl]
                rows.append([name, B, K, n, f"{m[name] * 1e3:.2f}", bl.spread(t[name]), f"{nfl * 1e3:.2f}",
                             f"{m[name] / nfl:.2f}x", f"{pfl * 1e3:.2f}", f"{m[name] / pfl:.2f}x"])
    bl.table(["loss", "B", "K", "rounds", "median ms", "±", "normalised floor ms", "ratio to normalised floor",
              "plain floor ms", "ratio to plain floor"], rows)


# ------------------------------------------------------------------------------------------------- memory
def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key): return int(line.split()[1]) * 1024
    raise KeyError(key)


def _release_freed_memory():
    "glibc: blocks of 64 KiB or more are mmapped, so unmapped on free; freed heap is trimmed at once."
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 0)          # M_TRIM_THRESHOLD


def mem_child(sizes, queues):
    "Print JSON {name|B|K: peak bytes above the inputs} for every loss at every size (run in a child process)."
    _release_freed_memory()
    out = {}
    for B in sizes:
        for K in queues:
            x = make_inputs(B, K)
            for name, f in losses(x).items():
                fwd_bwd(f, x)  # warm-up: first-call allocations, lazily built kernels
                x["q"].grad = x["k"].grad = None
                gc.collect()
                open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS counter (VmHWM)
                base = _status("VmRSS")
                fwd_bwd(f, x)
                out[f"{name}|{B}|{K}"] = _status("VmHWM") - base
            del x
    print(json.dumps(out))


def section_memory():
    print(f"### Peak memory of one forward+backward above its inputs (MiB; d={D})\n")
    print("Measured in one child process: allocator set to return every block of 64 KiB or more to the OS, the "
          "kernel's peak-RSS counter reset before each call (after a warm-up call). One (B, B+K) float32 matrix "
          "is given for scale.\n")
    r = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--mem-child",
                        "--sizes", ",".join(map(str, SIZES))],
                       capture_output=True, text=True)
    if r.returncode:
        print(f"failed: {(r.stderr.strip().splitlines() or [r.returncode])[-1]}\n"); return
    mem = json.loads(r.stdout.strip().splitlines()[-1])
    cols = [(B, K) for B in SIZES for K in QUEUES]
    names = list(dict.fromkeys(k.split("|")[0] for k in mem))
    rows = [["(B, B+K) matrix"] + [f"{B * (B + K) * 4 / 2**20:.1f}" for B, K in cols]]
    for n in names:
        rows.append([n] + [f"{mem[f'{n}|{B}|{K}'] / 2**20:.1f}" for B, K in cols])
    bl.table(["loss"] + [f"B={B}, K={K}" for B, K in cols], rows)


# ------------------------------------------------------------------------------------------------- references
def section_reference():
    print(f"### Speed-up over the loop reference (d={D}, K=0; reference forward timed once (B=256) or median of 3 "
          "(B=64); loss forward+backward: median of 20 interleaved rounds)\n")
    print("The references (carl_nb.testing.contrastive) are exact-sum (`math.fsum`) Python loops written from the "
          "formulas: they check values, they are not a speed baseline anyone would use.\n")
    rows = []
    for B, n_ref in ((64, 3), (256, 1)):
        x = make_inputs(B, 0)
        q, k, vq, vk, y = x["q"].detach(), x["k"].detach(), x["va"], x["vk"], x["y"]
        refs = {
            "info_nce": lambda: ref_info_nce(q, k, temperature=TAU),
            "supcon_loss": lambda: ref_supcon(q, y, temperature=TAU),
            "va_contrastive_loss (hybrid)": lambda: ref_va_contrastive(q, k, vq, vk, temperature=TAU),
            "va_contrastive_loss (soft)": lambda: ref_va_contrastive(q, k, vq, vk, temperature=TAU, variant="soft"),
            "va_contrastive_loss (weighted_neg)": lambda: ref_va_contrastive(q, k, vq, vk, temperature=TAU,
                                                                             variant="weighted_neg"),
            "arccon_loss": lambda: ref_arccon(q, k, margin_deg=10.0, temperature=TAU),
        }
        t = time_all(B, 0, 20)
        fs = losses(x)
        for n, ref in refs.items():
            ts, r = [], None
            for _ in range(n_ref):
                t0 = time.perf_counter(); r = ref(); ts.append(time.perf_counter() - t0)
            tr, tl = bl.med(ts), bl.med(t[n])
            diff = (fs[n]().detach().double() - r.double()).abs().item()
            rows.append([n, B, f"{tr:.3f}", f"{tl * 1e3:.2f}", f"{tr / tl:.0f}x", f"{diff:.1e}"])
    bl.table(["loss", "B", "loop reference forward (s)", "vectorised fwd+bwd (ms)", "speed-up", "max abs diff"], rows)


# ------------------------------------------------------------------------------------------------- large
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
    print(f"### B={B}, K={K:,}, d={D} on CPU (forward+backward once, fresh process per loss)\n")
    print(f"One (B, B+K) float32 matrix is {mat:.2f} GiB. Peak = the process's maximum resident set above what it "
          "held once the inputs existed.\n")
    rows = []
    for name in ["normalised floor (q, k)", "floor (q, k)", "info_nce", "supcon_loss", "va_contrastive_loss (hybrid)",
                 "va_contrastive_loss (soft)", "va_contrastive_loss (weighted_neg)", "arccon_loss"]:
        out = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--child", name,
                              str(B), str(K)], capture_output=True, text=True)
        if out.returncode:
            err = out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode
            rows.append([name, f"failed: {err}", "", "", ""]); continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([name, f"{r['seconds']:.1f}", f"{r['peak_extra_gib']:.2f}", f"{r['peak_extra_gib'] / mat:.1f}",
                     r["finite"]])
    bl.table(["loss", "time (s)", "peak RSS above inputs (GiB)", "in (B, B+K) matrices", "finite grads"], rows)


# ------------------------------------------------------------------------------------------------- pml
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
    _release_freed_memory()
    t0 = time.perf_counter(); fwd_bwd(f, x); first = time.perf_counter() - t0  # warm-up
    gc.collect()
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS counter (VmHWM)
    base, times = _status("VmRSS"), []
    for _ in range(3 if first < 1 else 1):  # a call of seconds: one timed call after the warm-up
        t0 = time.perf_counter(); fwd_bwd(f, x); times.append(time.perf_counter() - t0)
    print(json.dumps(dict(seconds=bl.med(times), peak_extra_mib=(_status("VmHWM") - base) / 2**20)))


def section_pml(mem_gib=16):
    "pytorch-metric-learning's NTXentLoss and SupConLoss against carl_nb's info_nce / supcon_loss, if it is installed."
    try: import pytorch_metric_learning
    except ImportError:
        print("### pytorch-metric-learning: not installed (pip install --no-deps pytorch-metric-learning to compare)\n")
        return
    print(f"### Against pytorch-metric-learning {pytorch_metric_learning.__version__} (d={D}, K=0, forward+backward, "
          f"median of 3 after a warm-up; each pml loss in a fresh process capped at {mem_gib:g} GiB of address "
          "space)\n")
    print("`NTXentLoss` gets the SimCSE layout (2B embeddings, rows i and i+B positives: both directions, a "
          "(2B, 2B) similarity matrix), `info_nce` the (B, B) one-direction layout; `SupConLoss` and `supcon_loss` get "
          "the same B anchors and 32 classes. carl_nb time: median of 10 interleaved rounds in this process. pml: "
          "peak RSS of one call above its inputs (measured as in the memory table); a call over 1 s is timed once "
          "after its warm-up.\n")
    rows = []
    for B in SIZES:
        ours = {n: bl.med(v) for n, v in time_all(B, 0, 10).items()}
        for pml_name, our_name in (("NTXentLoss", "info_nce"), ("SupConLoss", "supcon_loss")):
            out = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--pml-child",
                                  pml_name, str(B), "--mem-gib", str(mem_gib)], capture_output=True, text=True)
            if out.returncode:
                err = (out.stderr.strip().splitlines() or [str(out.returncode)])[-1][:70]
                rows.append([B, pml_name, f"failed ({err})", "-", our_name, f"{ours[our_name] * 1e3:.2f}", "-"])
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([B, pml_name, f"{r['seconds'] * 1e3:.2f}", f"{r['peak_extra_mib']:.0f}", our_name,
                         f"{ours[our_name] * 1e3:.2f}", f"{r['seconds'] / ours[our_name]:.1f}x"])
    bl.table(["B", "pml loss", "pml ms", "pml peak MiB", "carl_nb loss", "carl_nb ms", "carl_nb speed-up"], rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the B=4096, K=65,536 section")
    ap.add_argument("--repeats", type=int, default=30, help="interleaved rounds at B=256, K=0 (fewer for larger)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--section", default="floor,memory,reference,pml,big")
    ap.add_argument("--sizes", default="64,256,1024", help="batch sizes B of the floor, memory and pml tables")
    ap.add_argument("--child", nargs=3)
    ap.add_argument("--pml-child", nargs=2)
    ap.add_argument("--mem-child", action="store_true")
    ap.add_argument("--mem-gib", type=float, default=16)
    a = ap.parse_args()
    SIZES = tuple(int(b) for b in a.sizes.split(","))
    if a.threads: torch.set_num_threads(a.threads)
    if a.pml_child:
        cap = int(a.mem_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        pml_child(a.pml_child[0], int(a.pml_child[1])); sys.exit()
    if a.child:
        big_child(a.child[0], int(a.child[1]), int(a.child[2])); sys.exit()
    if a.mem_child:
        mem_child(SIZES, QUEUES); sys.exit()
    bl.header("bench_losses.py: the losses against their floor, references and pytorch-metric-learning")
    run = {"floor": lambda: section_floor(a.repeats), "memory": section_memory, "reference": section_reference,
           "pml": section_pml, "big": section_big}
    for s in a.section.split(","):
        if s == "big" and a.quick: continue
        run[s.strip()]()
