"""Training-step cost of CARL and its baselines on one encoder, same batch and length, SimCSE = 1.00: the steps run
interleaved in one process (A, B, C, ..., A, B, C, ...; medians after warm-up). Results of the latest run:
BENCHMARKS.md (the tables there are this script's output).

One step is what `carl_nb.train` does per update: `out = model.losses(batch, step=s)`, `weighted_loss`, backward,
gradient clipping, AdamW (`make_optimizer`) and its schedule, `model.after_step(s, out)`. The sentence-transformers
row is one manual step of its `MultipleNegativesRankingLoss` on the same encoder, texts and length (both dropout views
of the batch through the model, the loss, backward, the same clipping, AdamW).

Sections (`--section`, several allowed, comma-separated):
* ratios:    step ladder SimCSE / VA regression / CARL momentum+queue / + dynamic perturbation / + detection /
             full CARL / sentence-transformers, for each `--trainable-layers` setting;
* breakdown: where the full CARL step (and, beside it, the SimCSE step) spends its time, by part;
* profile:   torch.profiler's top operators of the full CARL step;
* options:   design options that shorten the CARL step (key encoder without dropout, saliency_layer=3);
* scaling:   step time vs batch size and vs sequence length (texts long enough that every row has exactly
             `max_length` tokens) for CARL, SimCSE and the bare encoder forward+backward.

    python bench/bench_step.py --section ratios,breakdown,profile,scaling      # CPU, MiniLM
    python bench/bench_step.py --encoder tiny --rounds 2 --warmup 1              # seconds: smoke test
    python bench/bench_step.py --device cuda --precision bf16 --batch 64 --max-length 64 --trainable-layers -1
"""
import argparse, contextlib, os, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (puts the repo root on sys.path)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from carl_nb.config import preset, baseline_config  # noqa: E402
from carl_nb.model import CarlModel, freeze_encoder_layers  # noqa: E402
from carl_nb.train import make_train_data  # noqa: E402
from carl_nb.train_parts import make_optimizer, weighted_loss  # noqa: E402
import carl_nb.step as carl_step  # noqa: E402


# ----------------------------------------------------------------------------------------------------- configs
def base_config(a, *, trainable_layers:int, batch_size:int|None=None, max_length:int|None=None):
    "The `cpu-quick` preset at this run's encoder, batch, length, layers, device and precision."
    enc = "minilm" if a.encoder == "tiny" else a.encoder
    return preset("cpu-quick", encoder=enc, batch_size=batch_size or a.batch, max_length=max_length or a.max_length,
                  trainable_layers=trainable_layers, device=a.device, precision=a.precision)


def ladder(base)->dict:
    "name -> (config, terms): the step ladder of the ratios table."
    return {
        "SimCSE (baseline `simcse`)": (baseline_config("simcse", base), "simcse"),
        "VA regression (baseline `va_regression`)": (baseline_config("va_regression", base), "va"),
        "CARL: momentum encoder + queue only": (
            base.replace(perturb="none", w_perturbed=0.0, w_ptd=0.0, w_va=0.0), "contrastive"),
        "CARL: + dynamic perturbation": (
            base.replace(w_ptd=0.0, w_va=0.0, saliency_objective="contrastive"), "contrastive, perturbed"),
        "CARL: + detection": (base.replace(w_va=0.0, saliency_objective="contrastive"), "contrastive, perturbed, ptd"),
        "CARL: full (baseline `carl` = the preset)": (baseline_config("carl", base), "contrastive, perturbed, ptd, va"),
    }


# ----------------------------------------------------------------------------------------------------- models
_TINY = {}

def build_model(cfg, a)->CarlModel:
    if a.encoder == "tiny":
        from carl_nb.encoders import tiny_encoder
        tok, enc = tiny_encoder(max_position=max(128, cfg.max_length))
        model = CarlModel(cfg, tokenizer=tok, encoder=enc)
    else: model = CarlModel(cfg)
    return model.to(cfg.device)


def st_source(a, max_length:int)->str:
    "A sentence-transformers directory of the same encoder (MiniLM's package dir, a given dir, or the tiny exported)."
    if a.encoder == "minilm":
        from carl_nb.encoders import minilm_path
        return str(minilm_path())
    if a.encoder != "tiny": return a.encoder
    if "dir" not in _TINY:
        from carl_nb.encoders import tiny_encoder
        from carl_nb.export import save_sentence_transformer
        tok, enc = tiny_encoder(max_position=128)
        _TINY["dir"] = save_sentence_transformer(enc, tok, os.path.join(tempfile.mkdtemp(), "tiny"), pooling="mean",
                                                 normalize=True, max_length=max_length)
    return str(_TINY["dir"])


def autocast(cfg):
    if cfg.precision == "bf16" and str(cfg.device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fill_queue(model:CarlModel, seed:int=0):
    "Fill the queue with random unit keys (ids no batch has) so every timed step sees the steady state: K keys."
    q = model.queue
    if q is None: return
    g = torch.Generator().manual_seed(seed)
    feats = F.normalize(torch.randn(q.size, q.dim, generator=g), dim=1)
    va = torch.stack([torch.rand(q.size, generator=g) * 2 - 1, torch.zeros(q.size)], 1)
    ids = 10**9 + torch.arange(q.size)
    dev = model.device
    q.enqueue(feats.to(dev), va=va.to(dev), sample_ids=ids.to(dev))


class KitStep:
    "One trainer update of a `CarlModel` (what `carl_nb.train._loop` does per step), on a fixed batch."
    def __init__(self, cfg, batch, a, parts=None):
        self.cfg, self.batch, self.parts = cfg, batch, parts
        self.model = build_model(cfg, a)
        self.model.train()
        fill_queue(self.model)
        self.opt, self.sched = make_optimizer(self.model, cfg)
        self.params = [p for g in self.opt.param_groups for p in g["params"]]
        self.clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        self.sync, self.s = bl.sync_for(cfg.device), 0

    def _tick(self, name, t0):
        if self.parts is not None:
            self.sync(); t = time.perf_counter()
            self.parts[name] = self.parts.get(name, 0.0) + t - t0
            return t
        return t0

    def __call__(self):
        s, m = self.s, self.model
        self.s += 1
        t = time.perf_counter()
        with autocast(self.cfg):
            out = m.losses(self.batch, step=s)
            t = self._tick("model.losses", t)
            total, _ = weighted_loss(out.losses, m.loss_weights(s), step=s)
        t = self._tick("weighted sum (+ finiteness check)", t)
        self.opt.zero_grad(set_to_none=True)
        total.backward(inputs=self.params)   # as the trainer does (only the stepped parameters)
        t = self._tick("backward", t)
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.sched.step()
        t = self._tick("grad clip + AdamW + schedule", t)
        m.after_step(s, out)
        self._tick("after_step (momentum update, enqueue)", t)


class STStep:
    "One manual sentence-transformers step: MultipleNegativesRankingLoss on two dropout views of the same texts."
    def __init__(self, cfg, texts, a):
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        self.cfg, self.texts = cfg, list(texts)
        self.st = SentenceTransformer(st_source(a, cfg.max_length), device=str(cfg.device))
        self.st.max_seq_length = cfg.max_length
        freeze_encoder_layers(self.st[0].auto_model, cfg.trainable_layers)
        self.st.train()
        self.loss = MultipleNegativesRankingLoss(self.st, scale=1 / cfg.simcse_temperature)  # SimCSE's τ = 0.05
        self.params = [p for p in self.st.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")

    def tokens(self):
        prep = getattr(self.st, "preprocess", None) or self.st.tokenize   # `tokenize` is deprecated in 6.x
        return prep(self.texts)

    def __call__(self):
        feats = {k: v.to(self.cfg.device) if torch.is_tensor(v) else v for k, v in self.tokens().items()}
        with autocast(self.cfg):
            loss = self.loss([dict(feats), dict(feats)], None)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()


class EncoderStep:
    "The bare encoder at the same shape: tokenize, forward, mean pool, a scalar, backward (no optimizer)."
    def __init__(self, cfg, texts, a):
        self.model = build_model(baseline_config("va_regression", cfg), a)
        self.model.train()
        self.texts = list(texts)

    def __call__(self):
        with autocast(self.model.config):
            _, z, _ = self.model.tower(self.model.tokenize(self.texts))
            loss = z.float().pow(2).mean()
        loss.backward()
        self.model.zero_grad(set_to_none=True)


# ----------------------------------------------------------------------------------------------------- batches
def real_batch(cfg, n:int)->dict:
    "The first batch of `n` texts the trainer's sampler would give for `cfg` (VADER sentences, unique texts)."
    data = make_train_data(cfg.replace(batch_size=n))
    return data.collate(next(iter(data.sampler)))


def long_batch(batch:dict, tokenizer, min_tokens:int)->dict:
    "The same rows with texts extended by the following rows' texts until each has >= `min_tokens` tokens."
    texts, out = batch["texts"], []
    for i in range(len(texts)):
        t, j = texts[i], i
        while len(tokenizer(t)["input_ids"]) < min_tokens + 2:
            j += 1
            t = t + " " + texts[j % len(texts)]
        out.append(t)
    return {**batch, "texts": out}


def take(batch:dict, n:int)->dict:
    return {k: v[:n] for k, v in batch.items()}


# ----------------------------------------------------------------------------------------------------- sections
def fmt_s(x): return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def section_ratios(a):
    for tl in a.trainable_layers:
        base = base_config(a, trainable_layers=tl)
        batch = real_batch(base, base.batch_size)
        steps, terms = {}, {}
        for name, (cfg, t) in ladder(base).items():
            steps[name], terms[name] = KitStep(cfg, batch, a), t
        st_name = "sentence-transformers `MultipleNegativesRankingLoss` (manual step)"
        steps[st_name], terms[st_name] = STStep(base, batch["texts"], a), "MNRL (scale 20 = 1/τ)"
        kit_shape = tuple(next(iter(steps.values())).model.tokenize(batch["texts"])["input_ids"].shape)
        st_shape = tuple(steps[st_name].tokens()["input_ids"].shape)
        times = bl.interleaved(steps, rounds=a.rounds, warmup=a.warmup, sync=bl.sync_for(a.device))
        meds = {n: bl.med(t) for n, t in times.items()}
        simcse = meds["SimCSE (baseline `simcse`)"]
        layers = "all layers trainable" if tl < 0 else f"top {tl} layers trainable"
        print(f"### Step ratios: {a.encoder}, {layers}, batch {base.batch_size}, tokens {kit_shape[0]}x{kit_shape[1]} "
              f"(sentence-transformers: {st_shape[0]}x{st_shape[1]}), queue {base.queue_size}, {a.precision}\n")
        print(f"Median of {a.rounds} interleaved rounds after {a.warmup} warm-up round(s); ± = half the interquartile "
              "range.\n")
        rows = [[n, terms[n], fmt_s(meds[n]), bl.spread(times[n]), f"{meds[n] / simcse:.2f}"] for n in steps]
        head = ["step", "loss terms", "median s", "±", "ratio to SimCSE"]
        if a.device.startswith("cuda"):   # one more call of each, alone: its peak above what is resident before it
            for r, n in zip(rows, steps):
                torch.cuda.synchronize(); before = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats(); steps[n](); torch.cuda.synchronize()
                r.append(f"{(torch.cuda.max_memory_allocated() - before) / 2**20:.0f}")
            head.append("peak GPU MiB above resident")
        bl.table(head, rows)
        full = meds["CARL: full (baseline `carl` = the preset)"]
        print(f"- full CARL / SimCSE = **{full / simcse:.2f}** (target ≤ 1.2)")
        print(f"- SimCSE / sentence-transformers = **{simcse / meds[st_name]:.2f}** (target ≤ 1.1)\n")
        del steps
        sys.stdout.flush()


PARTS = [  # (label, object path inside the CarlModel or carl_nb.step, kind) of the wrapped callables
    ("tokenize", "tokenize"), ("key forward (momentum tower, no grad)", "_keys"),
    ("queue snapshot + own-key mask", "_queue_part"), ("saliency (autograd.grad to the embeddings)", "_saliency"),
    ("perturbation (choose + replace tokens)", "_perturb"), ("VA-weighted contrastive losses", "_va_contrastive"),
    ("VA head MSE", "_va_mse"), ("optional terms (SimCSE 2nd view + InfoNCE, ...)", "_optional_terms"),
]


def instrument(step:KitStep)->dict:
    "Wrap the parts of `step.model.losses` with timers; returns the dict the times accumulate in."
    parts, m, sync = step.parts, step.model, step.sync
    def timed(label, fn):
        def wrapper(*args, **kwargs):
            sync(); t0 = time.perf_counter()
            try: return fn(*args, **kwargs)
            finally:
                sync(); parts[label] = parts.get(label, 0.0) + time.perf_counter() - t0
        return wrapper
    for label, attr in PARTS: setattr(m, attr, timed(label, getattr(m, attr)))
    calls = {"n": 0}
    tower_fwd = m.tower.forward
    def tower(*args, **kwargs):   # 1st call of a step: the clean view; 2nd: the perturbed (CARL) or 2nd dropout view
        label = "clean forward (query tower, with grad)" if calls["n"] % 2 == 0 else "2nd forward (perturbed view)"
        calls["n"] += 1
        return timed(label, tower_fwd)(*args, **kwargs)
    m.tower.forward = tower
    if m.detector is not None: m.detector.forward = timed("detector head + PTD loss", m.detector.forward)
    for name, label in (("ptd_loss", "detector head + PTD loss"), ("selected_word_valence", "logs: saliency valence"),
                        ("_geometry_logs", "logs: mean cos, uniformity")):
        orig = getattr(carl_step, name)
        step.restore = getattr(step, "restore", []) + [(name, orig)]
        setattr(carl_step, name, timed(label, orig))
    return calls


def uninstrument(step):
    for name, orig in getattr(step, "restore", []): setattr(carl_step, name, orig)


def section_breakdown(a):
    tl = a.trainable_layers[0]
    base = base_config(a, trainable_layers=tl)
    batch = real_batch(base, base.batch_size)
    cols = {"full CARL": baseline_config("carl", base), "SimCSE": baseline_config("simcse", base)}
    res = {}
    for col, cfg in cols.items():
        step = KitStep(cfg, batch, a, parts={})
        calls = instrument(step)
        for _ in range(a.warmup): step()
        step.parts.clear()
        totals = []
        for _ in range(a.rounds):
            t0 = time.perf_counter(); step(); step.sync(); totals.append(time.perf_counter() - t0)
        uninstrument(step)
        res[col] = ({k: v / a.rounds for k, v in step.parts.items()}, bl.med(totals), calls)
        del step
    inner = [lab for lab, _ in PARTS] + ["clean forward (query tower, with grad)", "2nd forward (perturbed view)",
                                        "detector head + PTD loss", "logs: saliency valence",
                                        "logs: mean cos, uniformity"]
    outer = ["weighted sum (+ finiteness check)", "backward", "grad clip + AdamW + schedule",
             "after_step (momentum update, enqueue)"]
    print(f"### Breakdown of one step: {a.encoder}, "
          f"{'all layers' if tl < 0 else f'top {tl} layers'} trainable, batch {base.batch_size}, "
          f"max_length {base.max_length}, {a.precision}\n")
    print(f"Mean seconds per step over {a.rounds} steps after {a.warmup} warm-up step(s), timers around the parts "
          "(separate runs of each model, not interleaved; the per-part times add up to the step). In SimCSE the "
          "'2nd forward' is its second dropout view, run inside 'optional terms' (its time is listed on its own "
          "row and taken out of 'optional terms').\n")
    rows, sums = [], {c: 0.0 for c in cols}
    order = ["tokenize", "key forward (momentum tower, no grad)", "clean forward (query tower, with grad)",
             "saliency (autograd.grad to the embeddings)", "perturbation (choose + replace tokens)",
             "2nd forward (perturbed view)", "queue snapshot + own-key mask", "VA-weighted contrastive losses",
             "detector head + PTD loss", "VA head MSE", "optional terms (SimCSE 2nd view + InfoNCE, ...)",
             "logs: saliency valence", "logs: mean cos, uniformity"]
    assert set(order) == set(inner)
    vals = {}
    for c, (p, tot, _) in res.items():
        v = dict(p)
        if "optional terms (SimCSE 2nd view + InfoNCE, ...)" in v and c == "SimCSE":
            v["optional terms (SimCSE 2nd view + InfoNCE, ...)"] -= v.get("2nd forward (perturbed view)", 0.0)
        inside = sum(v.get(k, 0.0) for k in order)
        v["rest of model.losses (checks, labels, bookkeeping)"] = v["model.losses"] - inside
        vals[c] = (v, tot)
    for lab in order + ["rest of model.losses (checks, labels, bookkeeping)"] + outer:
        r = [lab]
        for c in cols:
            v, tot = vals[c]
            x = v.get(lab, 0.0)
            sums[c] += x
            r += [f"{x:.3f}", f"{x / tot * 100:.0f}%"]
        rows.append(r)
    rows.append(["**sum of parts**"] + sum(([f"{sums[c]:.3f}", ""] for c in cols), []))
    rows.append(["**step (median)**"] + sum(([f"{vals[c][1]:.3f}", "100%"] for c in cols), []))
    bl.table(["part", "CARL s", "CARL share", "SimCSE s", "SimCSE share"], rows)
    extra = vals["full CARL"][1] - vals["SimCSE"][1]
    print(f"- CARL - SimCSE = {extra:.3f} s per step ({vals['full CARL'][1] / vals['SimCSE'][1]:.2f}x)\n")


def section_profile(a):
    from torch.profiler import profile, ProfilerActivity
    base = base_config(a, trainable_layers=a.trainable_layers[0])
    batch = real_batch(base, base.batch_size)
    step = KitStep(baseline_config("carl", base), batch, a)
    for _ in range(max(a.warmup, 1)): step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if a.device.startswith("cuda") else [])
    n = max(2, min(a.rounds, 3))
    with profile(activities=acts) as prof:
        for _ in range(n): step()
    key = "self_cuda_time_total" if a.device.startswith("cuda") else "self_cpu_time_total"
    print(f"### torch.profiler: top operators of {n} full CARL steps ({a.encoder}, batch {base.batch_size}, "
          f"max_length {base.max_length}, {'all' if a.trainable_layers[0] < 0 else a.trainable_layers[0]} "
          "layers trainable)\n")
    print("```")
    print(prof.key_averages().table(sort_by=key, row_limit=18, max_name_column_width=48))
    print("```\n")


def section_scaling(a):
    tl = a.trainable_layers[0]
    sync = bl.sync_for(a.device)
    probe = base_config(a, trainable_layers=tl)
    big = real_batch(probe, max(a.batch_sizes))
    rows = []
    def run_point(L, B, models):
        texts = models["tok_batch"][B]
        for s in ("CARL", "SimCSE"): models[s].batch = texts
        models["encoder"].texts = texts["texts"]
        times = bl.interleaved({k: models[k] for k in ("CARL", "SimCSE", "encoder")}, rounds=a.scaling_rounds,
                               warmup=1, sync=sync)
        m = {k: bl.med(v) for k, v in times.items()}
        shape = tuple(models["CARL"].model.tokenize(texts["texts"])["input_ids"].shape)
        rows.append([f"{shape[0]}x{shape[1]}", fmt_s(m["encoder"]), fmt_s(m["SimCSE"]), fmt_s(m["CARL"]),
                     f"{m['SimCSE'] / m['encoder']:.2f}", f"{m['CARL'] / m['encoder']:.2f}",
                     f"{m['CARL'] / m['SimCSE']:.2f}"])
    def models_for(L, Bs):
        base = base_config(a, trainable_layers=tl, max_length=L)
        enc = EncoderStep(base, [], a)
        tb = {B: take(long_batch(big, enc.model.tokenizer, L), B) for B in Bs}
        return {"CARL": KitStep(baseline_config("carl", base), tb[Bs[0]], a),
                "SimCSE": KitStep(baseline_config("simcse", base), tb[Bs[0]], a), "encoder": enc, "tok_batch": tb}
    print(f"### Scaling: {a.encoder}, {'all' if tl < 0 else f'top {tl}'} layers trainable, {a.precision}\n")
    print(f"Median of {a.scaling_rounds} interleaved rounds after one warm-up round; every row padded to exactly the "
          "shape shown (texts extended with the next rows' texts). 'encoder' = tokenize + forward + mean pool + "
          "backward of the query encoder alone (no optimizer): the part every method must pay. Ratios that stay flat "
          "down a column grow like the encoder.\n")
    L0 = a.max_length
    ms = models_for(L0, a.batch_sizes)
    for B in a.batch_sizes: run_point(L0, B, ms)
    del ms
    print(f"Batch size (max_length {L0}):\n")
    bl.table(["tokens (B x T)", "encoder s", "SimCSE s", "CARL s", "SimCSE / encoder", "CARL / encoder",
              "CARL / SimCSE"], rows)
    rows.clear()
    B0 = a.batch
    for L in a.lengths:
        ms = models_for(L, [B0])
        run_point(L, B0, ms)
        del ms
    print(f"Sequence length (batch {B0}):\n")
    bl.table(["tokens (B x T)", "encoder s", "SimCSE s", "CARL s", "SimCSE / encoder", "CARL / encoder",
              "CARL / SimCSE"], rows)


def section_options(a):
    "Design options that shorten the CARL step (they change the method, unlike the fixes): interleaved with SimCSE."
    for tl in a.trainable_layers:
        base = base_config(a, trainable_layers=tl)
        batch = real_batch(base, base.batch_size)
        carl = baseline_config("carl", base)
        steps = {"SimCSE": KitStep(baseline_config("simcse", base), batch, a),
                 "full CARL (saliency_layer=0, key encoder with dropout)": KitStep(carl, batch, a)}
        nodrop = KitStep(carl, batch, a)
        nodrop.model.momentum.key_train_mode = False   # MomentumEncoder option: key forward in eval mode
        nodrop.model.train()
        steps["full CARL, key encoder without dropout (key_train_mode=False)"] = nodrop
        steps["full CARL, saliency_layer=3"] = KitStep(carl.replace(saliency_layer=3), batch, a)
        both = KitStep(carl.replace(saliency_layer=3), batch, a)
        both.model.momentum.key_train_mode = False
        both.model.train()
        steps["full CARL, both"] = both
        times = bl.interleaved(steps, rounds=a.rounds, warmup=a.warmup, sync=bl.sync_for(a.device))
        meds = {n: bl.med(t) for n, t in times.items()}
        print(f"### Design options of the CARL step: {a.encoder}, {'all' if tl < 0 else f'top {tl}'} layers "
              f"trainable, batch {base.batch_size}, max_length {base.max_length}, {a.precision}\n")
        print("Not fixes: each changes what is trained (keys without dropout noise; saliency taken at the input of "
              "block 3 instead of the input embeddings). Median of "
              f"{a.rounds} interleaved rounds after {a.warmup} warm-up round(s).\n")
        rows = [[n, fmt_s(meds[n]), bl.spread(times[n]), f"{meds[n] / meds['SimCSE']:.2f}"] for n in steps]
        bl.table(["step", "median s", "±", "ratio to SimCSE"], rows)
        del steps, nodrop, both


def ints(s): return [int(x) for x in str(s).split(",") if x.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--section", default="ratios,breakdown,profile,scaling")
    p.add_argument("--encoder", default="minilm", help="'minilm', 'tiny' (random 2-layer BERT) or a local directory")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--trainable-layers", type=ints, default=[-1, 2],
                   help="comma-separated; -1 = the whole encoder, 2 = cpu-quick's top two blocks (default: both)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--scaling-rounds", type=int, default=4)
    p.add_argument("--batch-sizes", type=ints, default=[8, 16, 32, 64])
    p.add_argument("--lengths", type=ints, default=[16, 32, 64, 128])
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    bl.header(f"bench_step.py: training-step cost ({a.encoder})", device=a.device)
    for s in a.section.split(","):
        {"ratios": section_ratios, "breakdown": section_breakdown, "profile": section_profile,
         "scaling": section_scaling, "options": section_options}[s.strip()](a)
    if a.device.startswith("cuda"):
        print(f"- peak GPU memory allocated in this process: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB\n")


if __name__ == "__main__":
    main()
