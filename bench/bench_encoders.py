"""Encoder costs on this machine: a training step of `tiny_encoder()` (what tests and CPU tutorials use) and
`embed` throughput of the real all-MiniLM-L6-v2, on VADER sentences. All numbers come from this one run.
Results of the latest run: BENCHMARKS.md.

    python bench/bench_encoders.py [--device cpu|cuda]
"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402  (puts the repo root on sys.path)
import argparse, statistics, time
import torch
from carl_nb.data import load_vader
from carl_nb.encoders import tiny_encoder, load_encoder, embed, mean_pool

def train_step_ms(tok, model, texts, device, repeats=20):
    model.train().to(device)
    enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt").to(device)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    def step():
        z = mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
        loss = torch.nn.functional.normalize(z, dim=-1).pow(3).sum(); opt.zero_grad(); loss.backward(); opt.step()
        if device.type == "cuda": torch.cuda.synchronize()
    for _ in range(3): step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, tuple(enc["input_ids"].shape)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("--device", default="cpu"); a = ap.parse_args()
    device = torch.device(a.device)
    texts = list(load_vader("train")["text"])
    bl.header("bench_encoders.py: encoder costs", device=str(device))
    print("| encoder | parameters | train step, batch 32 (ms) | tokens | embed throughput (sentences/s) |\n|---|---|---|---|---|")
    for name, (tok, model) in (("tiny_encoder()", tiny_encoder()), ("minilm", load_encoder("minilm"))):
        n = sum(p.numel() for p in model.parameters())
        ms, shape = train_step_ms(tok, model, texts[:32], device, repeats=20 if name.startswith("tiny") else 5)
        sample = texts[:512]
        t0 = time.perf_counter(); embed(sample, tok, model.eval(), batch_size=64, device=device, progress=False)
        rate = len(sample) / (time.perf_counter() - t0)
        print(f"| {name} | {n/1e6:.1f}M | {ms:.0f} | {shape[0]}x{shape[1]} | {rate:.0f} |")
