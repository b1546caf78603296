"""Extra cost of dynamic_perturbation per training step (CPU, MiniLM, batch 16). Prints ratios measured in one run.
Results of the latest run: BENCHMARKS.md (bench/bench_step.py measures the trainer's whole CARL step instead).

    python bench/bench_saliency.py
"""
import os, sys
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # carl_nb importable from a clone
import time, statistics, torch
from carl_nb.encoders import load_encoder
from carl_nb.data import load_vader
from carl_nb.saliency import encode, token_saliency, model_inputs, special_mask, objective_and_grad
from carl_nb.perturb import perturb, dynamic_perturbation, PerturbedTokenDetector, ptd_loss
torch.set_num_threads(2)
tok, model = load_encoder("minilm"); model.train()
texts = load_vader("train")["text"][:16]
batch = encode(tok, texts, max_length=64)
det = PerturbedTokenDetector(384)
obj = lambda z: torch.nn.functional.normalize(z, dim=-1).pow(3).sum()   # stand-in scalar loss
pool = lambda h, am: (h * am[..., None]).sum(1) / am.sum(1, keepdim=True)

def static_step():   # clean forward + perturbed forward (fixed random positions) + one backward
    h = model(**model_inputs(batch)).last_hidden_state
    value = obj(pool(h, batch["attention_mask"]))
    nb = static_nb
    hp = model(**model_inputs(nb)).last_hidden_state
    loss = value + obj(pool(hp, nb["attention_mask"])) + ptd_loss(det(hp), nb["perturbed_mask"], special_mask(nb))
    loss.backward(); model.zero_grad(set_to_none=True); det.zero_grad(set_to_none=True)

def dynamic_step():  # the same, with saliency recomputed from the step's own forward
    st = dynamic_perturbation(model, batch, obj, ratio=0.15, tokenizer=tok)
    hp = model(**model_inputs(st.batch)).last_hidden_state
    loss = st.objective + obj(pool(hp, st.batch["attention_mask"])) + ptd_loss(det(hp), st.batch["perturbed_mask"], special_mask(st.batch))
    loss.backward(); model.zero_grad(set_to_none=True); det.zero_grad(set_to_none=True)

def naive_step():    # separate saliency pass (own forward + backward), then the static step
    sal = token_saliency(model, batch, obj, tokenizer=tok)
    global static_nb
    static_nb = perturb(batch, sal, ratio=0.15, strategy="mask", tokenizer=tok)[0]
    static_step()

sal0 = token_saliency(model, batch, obj, tokenizer=tok)
static_nb = perturb(batch, sal0, ratio=0.15, strategy="mask", tokenizer=tok, select="random")[0]
times = {k: [] for k in ["static", "dynamic", "naive"]}
for rep in range(7):
    for name, fn in [("static", static_step), ("dynamic", dynamic_step), ("naive", naive_step)]:
        t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
med = {k: statistics.median(v[1:]) for k, v in times.items()}
print({k: f"{v*1000:.0f} ms" for k, v in med.items()})
print(f"dynamic / static = {med['dynamic']/med['static']:.2f}x ; naive / static = {med['naive']/med['static']:.2f}x")
