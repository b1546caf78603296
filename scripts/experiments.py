"""The kit's recorded experiments: the ablation that chose CARL's defaults, and CARL against its baselines.

    python scripts/experiments.py ablation [--preset cpu-quick] [--steps N]     -> results/ablation.csv
    python scripts/experiments.py compare  [--preset cpu-quick] [--seeds 0 1 2] -> results/compare/*.json, comparison.csv

Everything goes through carl_nb's public API (the same code as `carl train` / `carl eval`). The ablation is scored on
the in-domain VADER *validation* split only (never the test split or the held-out data); the comparison is scored by
the offline evaluation suite, whose transfer tasks (a VADER domain and Warriner words that training never saw) are
what counts. Run directories go to runs/experiments/ (not committed); the result tables go to results/ (committed).
"""
from __future__ import annotations
import argparse, dataclasses, json, os, platform, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
RUNS = ROOT / "runs" / "experiments"

# name -> TrainConfig overrides on top of the preset: one change from the default per row (the first row)
ABLATION = {
    "default (hybrid, σ=0.2, random, va_head)": {},
    "soft targets, σ=0.5 (old default)": dict(cl_variant="soft", bandwidth=0.5),
    "hybrid, σ=0.5": dict(bandwidth=0.5),
    "perturb [MASK]": dict(perturb="mask"),
    "saliency of the contrastive loss": dict(saliency_objective="contrastive"),
}
# every baseline runs with every seed (the reproduction report needs intervals for all of them)
BASELINE_RUNS = ("carl", "va_regression", "frozen", "simcse", "supcon_bins", "carl_no_perturb", "carl_no_queue",
                 "circumplex_only", "arccon")
LOG_COLUMNS = ("saliency_valence_ratio", "ptd_balanced_acc", "contrastive_above_floor", "mean_cos", "uniformity")


def machine() -> dict:
    return {"date": time.strftime("%Y-%m-%d"), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def _train(cfg, out: Path):
    from carl_nb.train import train
    if out.exists():
        import shutil
        shutil.rmtree(out)
    t0 = time.perf_counter()
    result = train(cfg, out_dir=out, resume="never", progress=True)
    return result, time.perf_counter() - t0


def _late_mean(history: pd.DataFrame, col: str) -> float:
    "Mean of a logged column over the second half of training (the first half is warm-up and a moving target)."
    if col not in history or history[col].dropna().empty:
        return float("nan")
    s = history[col].dropna()
    return float(s.iloc[len(s) // 2:].mean())


def ablation(args):
    from carl_nb.config import preset
    from carl_nb.evaluate import quick_eval
    from carl_nb.train_data import carl_splits
    base = _base(args)
    validation = carl_splits(seed=base.seed, heldout_domain=base.heldout_domain).validation
    rows = []
    for name, overrides in ABLATION.items():
        cfg = base.replace(**overrides)
        result, seconds = _train(cfg, RUNS / "ablation" / _slug(name))
        from carl_nb.train import load_run
        _, model = load_run(result.out_dir)
        val = quick_eval(model.embed, validation, n=len(validation), seed=0)
        row = {"setting": name, "overrides": json.dumps(overrides), "train_s": round(seconds, 1), **val}
        row.update({c: _late_mean(result.history, c) for c in LOG_COLUMNS})
        rows.append(row)
        print(pd.DataFrame(rows).to_string())
        frame = pd.DataFrame(rows)
        RESULTS.mkdir(exist_ok=True)
        frame.to_csv(RESULTS / "ablation.csv", index=False)
    (RESULTS / "ablation.json").write_text(json.dumps({"preset": args.preset, "config": dataclasses.asdict(base),
                                                       "machine": machine()}, indent=1, default=str))


def _base(args, **changes):
    "The preset with `--steps` and `--set key=value` applied (what every run of one experiment shares)."
    from carl_nb.config import preset
    cfg = preset(args.preset, **changes)
    if args.steps:
        cfg = cfg.replace(steps=args.steps)
    return cfg.with_overrides(args.set or [])


# the rule that picks the default from the ablation: best validation valence probe among settings that neither
# collapse the space (mean pairwise cosine of validation embeddings > 0.5) nor make detection trivial (> 0.98)
def chosen_setting(frame: pd.DataFrame) -> pd.Series:
    ok = (frame["val_mean_cos"] <= 0.5) & ~(frame["ptd_balanced_acc"] > 0.98)
    return frame[ok].sort_values("val_valence_pearson", ascending=False).iloc[0]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()[:60]


def compare_runs(args):
    from carl_nb.config import preset, baseline_config
    from carl_nb.evaluate import evaluate, EvalSuite
    from carl_nb.model import CarlModel
    from carl_nb.train import load_run
    out = RESULTS / "compare"
    out.mkdir(parents=True, exist_ok=True)
    ablated = RESULTS / "ablation.csv"
    chosen = json.loads(chosen_setting(pd.read_csv(ablated))["overrides"]) if ablated.exists() else {}
    print(f"CARL setting from the ablation: {chosen or 'the default'}", flush=True)
    timings = {}
    for name in args.baselines:
        for seed in args.seeds:
            report_path = out / f"{name}-seed{seed}.json"
            if report_path.exists() and not args.force:
                continue
            cfg = baseline_config(name, _base(args, seed=seed).replace(**chosen))
            seconds = 0.0
            if name == "frozen":
                torch.manual_seed(seed)
                model = CarlModel(cfg)
            elif args.reeval and (RUNS / "compare" / f"{name}-seed{seed}" / "checkpoints" / "last").exists():
                # a newer suite on the same trained model: no retraining, the recorded train time is kept
                _, model = load_run(RUNS / "compare" / f"{name}-seed{seed}")
                seconds = float("nan")
            else:
                result, seconds = _train(cfg, RUNS / "compare" / f"{name}-seed{seed}")
                _, model = load_run(result.out_dir)
            suite = dataclasses.replace(EvalSuite.offline(), split_seed=seed, heldout_domain=cfg.heldout_domain)
            t0 = time.perf_counter()
            report = evaluate(model, suite, seed=seed, progress=True, name=name)
            timings[f"{name}-seed{seed}"] = {"train_s": round(seconds, 1), "eval_s": round(time.perf_counter() - t0, 1)}
            report_path.write_text(report.to_json())
            print(f"{name} seed {seed}: train {seconds:.0f} s", flush=True)
    meta = out / "runs.json"
    old = json.loads(meta.read_text()) if meta.exists() else {}
    old.update({"preset": args.preset, "set": args.set, "steps": args.steps, "chosen": chosen, "machine": machine()})
    old.setdefault("timings", {}).update({k: v if v["train_s"] == v["train_s"] else {**old["timings"].get(k, {}),
                                                                                    "eval_s": v["eval_s"]}
                                          for k, v in timings.items()})
    meta.write_text(json.dumps(old, indent=1))
    summarize()


def summarize():
    "results/comparison.csv: mean ± 95% CI over seeds for every run group, from results/compare/*.json."
    from carl_nb.compare import EvalReport, compare
    groups = {}
    for p in sorted((RESULTS / "compare").glob("*-seed*.json")):
        groups.setdefault(p.stem.rsplit("-seed", 1)[0], []).append(EvalReport.from_json(p.read_text()))
    comparison = compare(groups)
    comparison.to_frame().to_csv(RESULTS / "comparison.csv", index=False)
    (RESULTS / "SUMMARY.md").write_text(summary_markdown(comparison.to_frame(), groups))
    print(comparison.table().to_string() if hasattr(comparison, "table") else comparison.to_frame().to_string())
    return comparison


KEY_ROWS = [("heldout_domain", "valence_pearson"), ("heldout_domain", "polarity_auc"),
            ("heldout_words", "valence_pearson"), ("heldout_words", "arousal_pearson"),
            ("in_domain", "valence_pearson"), ("geometry_heldout_domain", "uniformity"),
            ("geometry_heldout_domain", "mean_cos"), ("circumplex_emotions", "angle_error_deg")]
LOWER_BETTER = ("uniformity", "mean_cos", "angle_error_deg", "alignment")


MIN_EFFECT = 1e-3   # as in tutorials/reproduce.ipynb: a smaller mean difference does not reach the printed decimals


def verdict(frame: pd.DataFrame, task: str, metric: str, a: str, b: str, groups: dict) -> str:
    "Plain words for run a against run b on one row: the paired difference over matched seeds and its 95% interval."
    from carl_nb.compare import delta
    if a not in groups or b not in groups:
        return "not measured"
    d = delta(groups[a], groups[b]).set_index(["task", "metric"])
    if (task, metric) not in d.index:
        return "not measured"
    r = d.loc[(task, metric)]
    means = {run: frame[(frame.task == task) & (frame.metric == metric) & (frame.run == run)]["mean"].iloc[0]
             for run in (a, b)}
    head = f"{a} {means[a]:.3f} vs {b} {means[b]:.3f}, paired difference {r.mean_delta:+.4f} [{r.ci_low:+.4f}, " \
           f"{r.ci_high:+.4f}] over {int(r.n_pairs)} seeds"
    if not (r.excludes_zero and abs(r.mean_delta) >= MIN_EFFECT):
        return f"{head}: no difference shown"
    better = (r.mean_delta < 0) == (metric in LOWER_BETTER)
    return f"{head}: {a} {'better' if better else 'worse'}"


def summary_markdown(frame: pd.DataFrame, groups: dict) -> str:
    "results/SUMMARY.md: the key rows of the comparison and a generated sentence per question (no typed numbers)."
    meta_path = RESULTS / "compare" / "runs.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    runs = sorted(frame.run.unique(), key=lambda r: (r != "carl", r))
    lines = ["# CARL against its baselines (generated by `python scripts/experiments.py summarize`)", "",
             f"Preset `{meta.get('preset')}`, steps {meta.get('steps')}, overrides {meta.get('set')}, CARL setting "
             f"from the ablation {meta.get('chosen')}; machine {meta.get('machine')}.",
             "Mean over seeds, with the 95% t-interval in brackets (one seed: no interval). "
             "Transfer rows are data training never saw. The verdicts pair the seeds (same split, same evaluation "
             "sample); every claim of the papers is tested in tutorials/reproduce.ipynb.", "",
             "| task | metric | " + " | ".join(runs) + " |", "|---|---|" + "---|" * len(runs)]
    for task, metric in KEY_ROWS:
        cells = []
        for run in runs:
            r = frame[(frame.task == task) & (frame.metric == metric) & (frame.run == run)]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            ci = "" if pd.isna(r.ci_low) else f" [{r.ci_low:.3f}, {r.ci_high:.3f}]"
            cells.append(f"{r['mean']:.3f}{ci}")
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    lines += ["", "## Did CARL help?", ""]
    for task, metric in KEY_ROWS[:4]:
        for b in ("frozen", "va_regression"):
            lines.append(f"- {task} / {metric}, CARL vs {b}: {verdict(frame, task, metric, 'carl', b, groups)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("ablation")
    c = sub.add_parser("compare")
    for p in (a, c):
        p.add_argument("--preset", default="cpu-quick")
        p.add_argument("--steps", type=int, default=None)
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="TrainConfig override for every run")
    c.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    c.add_argument("--baselines", nargs="+", default=list(BASELINE_RUNS))
    c.add_argument("--force", action="store_true", help="redo reports that exist")
    c.add_argument("--reeval", action="store_true", help="with --force: evaluate the saved run instead of retraining")
    sub.add_parser("summarize")
    args = ap.parse_args()
    {"ablation": ablation, "compare": compare_runs, "summarize": lambda a: summarize()}[args.what](args)
