"""Evaluation cost: wall time of `carl_nb.evaluate.evaluate(model, "offline")` per task, and embedding throughput
(sentences/s) of `CarlModel.embed` (what the evaluation calls) beside sentence-transformers' `encode`, at batch 64
and 256, interleaved. Results of the latest run: BENCHMARKS.md (the tables there are this script's output).

    python bench/bench_eval.py                       # CPU, MiniLM (the untrained cpu-quick model = frozen encoder)
    python bench/bench_eval.py --section throughput --device cuda --encoder /path/to/all-mpnet-base-v2
"""
import argparse, os, sys, time
os.environ.setdefault("TQDM_DISABLE", "1")  # the evaluation's embed bars would fill the output
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (puts the repo root on sys.path)

import torch  # noqa: E402

from carl_nb.config import preset  # noqa: E402
from carl_nb.model import CarlModel  # noqa: E402


def build(a):
    cfg = preset("cpu-quick", encoder="minilm" if a.encoder == "tiny" else a.encoder, device=a.device,
                 max_length=a.max_length)
    if a.encoder == "tiny":
        from carl_nb.encoders import tiny_encoder
        tok, enc = tiny_encoder(max_position=max(128, a.max_length))
        return CarlModel(cfg, tokenizer=tok, encoder=enc).to(a.device)
    return CarlModel(cfg).to(a.device)


def section_suite(a):
    from carl_nb.evaluate import evaluate
    model = build(a)
    t0 = time.perf_counter()
    rep = evaluate(model, a.suite, progress=False, name=a.encoder)
    wall = time.perf_counter() - t0
    print(f"### `evaluate(model, {a.suite!r})`: {a.encoder}, max_length {a.max_length}, device {a.device}\n")
    print(f"One run. Seconds per task from `report.seconds` ('data' = building the splits); the embedding of every "
          f"distinct text happens inside the tasks, cached across them: {rep.meta['n_texts_embedded']:,} texts, "
          f"{rep.meta['embed_seconds']:.1f} s of embedding in all "
          f"({rep.meta['n_texts_embedded'] / rep.meta['embed_seconds']:.0f} texts/s, batch 64).\n")
    rows = [[k, f"{v:.1f}"] for k, v in rep.seconds.items() if k != "total"]
    rows += [["**total** (`report.seconds['total']`)", f"{rep.seconds['total']:.1f}"],
             ["wall time of the call", f"{wall:.1f}"]]
    bl.table(["task", "seconds"], rows)


def section_throughput(a):
    from carl_nb.data import load_vader
    from sentence_transformers import SentenceTransformer
    texts = list(dict.fromkeys(load_vader("test")["text"]))[:a.n_texts]
    model = build(a)
    src = a.encoder
    if a.encoder in ("minilm", "tiny"):
        from carl_nb.encoders import minilm_path
        src = str(minilm_path())
    fns = {}
    if a.encoder != "tiny":
        st = SentenceTransformer(src, device=a.device)
        st.max_seq_length = a.max_length
    for bs in a.batch_sizes:
        fns[f"CarlModel.embed, batch {bs}"] = lambda bs=bs: model.embed(texts, batch_size=bs, progress=False)
        if a.encoder != "tiny":
            fns[f"SentenceTransformer.encode, batch {bs}"] = (
                lambda bs=bs: st.encode(texts, batch_size=bs, convert_to_tensor=True, show_progress_bar=False))
    bf16 = a.precision == "bf16" and a.device.startswith("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        times = bl.interleaved(fns, rounds=a.rounds, warmup=1, sync=bl.sync_for(a.device))
    lens = model.tokenize(texts)["attention_mask"].sum(1).float()
    print(f"### Embedding throughput: {a.encoder}, {len(texts)} distinct VADER test sentences (mean "
          f"{lens.mean():.1f} tokens, max_length {a.max_length}), device {a.device}, {a.precision}\n")
    print(f"Median of {a.rounds} interleaved rounds after one warm-up round; each call embeds all the sentences "
          "(both sort by length, so batches hold sentences of similar length).\n")
    rows = [[n, f"{bl.med(t):.2f}", bl.spread(t), f"{len(texts) / bl.med(t):.0f}"] for n, t in times.items()]
    bl.table(["call", "median s", "±", "sentences/s"], rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--section", default="suite,throughput")
    p.add_argument("--encoder", default="minilm", help="'minilm', 'tiny' or a local directory")
    p.add_argument("--suite", default="offline")
    p.add_argument("--max-length", type=int, default=32, help="tokens per text (cpu-quick's 32)")
    p.add_argument("--n-texts", type=int, default=1024)
    p.add_argument("--batch-sizes", default="64,256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    a.batch_sizes = [int(x) for x in a.batch_sizes.split(",")]
    if a.threads: torch.set_num_threads(a.threads)
    bl.header(f"bench_eval.py: evaluation and embedding cost ({a.encoder})", device=a.device)
    for s in a.section.split(","):
        {"suite": section_suite, "throughput": section_throughput}[s.strip()](a)


if __name__ == "__main__":
    main()
