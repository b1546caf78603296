"""Stand-ins for `tests/test_train.py` and the subprocess it SIGKILLs.

`ToyModel` has every piece of state a CARL run has (dropout on the global RNG, a `torch.Generator` for its
perturbation, a momentum encoder, a queue with sample ids, a head on its own learning rate) in a few linear
layers, and only the methods `carl_nb.train` calls. Run as a script it trains one run into OUT_DIR:

    python tests/_resume_worker.py OUT_DIR [--steps 14] [--kill-at 7] [--die-in-save 6]

`--kill-at t` sends itself SIGKILL right after update t (0-based) finished, before that step is checkpointed;
`--die-in-save s` dies after checkpoint `s` was written to its temp folder, before the rename.
"""
import argparse, os, signal, sys
from dataclasses import dataclass, field
import torch
from torch import nn
import torch.nn.functional as F
from carl_nb.config import TrainConfig
from carl_nb.queue import FeatureQueue, MomentumEncoder
from carl_nb.train import TrainData, train

N_TEXTS, DIM = 40, 16


def info_nce(q, k, *, temperature, extra_keys=None):
    "InfoNCE with in-batch (and queued) negatives; kept local so the stand-in depends on no other module's state."
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    keys = k if extra_keys is None else torch.cat([k, F.normalize(extra_keys, dim=1)])
    return F.cross_entropy(q @ keys.T / temperature, torch.arange(len(q)))


@dataclass
class StepOutput:
    losses: dict
    logs: dict = field(default_factory=dict)
    keys: torch.Tensor = None
    va: torch.Tensor = None
    ids: torch.Tensor = None


class ToyModel(nn.Module):
    "A CARL-shaped model on an embedding table: query + momentum encoder, queue, VA head, a noise generator."
    def __init__(self, seed=0, queue_size=12):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.encoder = nn.Sequential(nn.Embedding(N_TEXTS, DIM), nn.Dropout(0.2), nn.Linear(DIM, DIM),
                                         nn.LayerNorm(DIM))
            self.va_head = nn.Linear(DIM, 2)
        self.momentum = MomentumEncoder(self.encoder)
        self.queue = FeatureQueue(DIM, queue_size, label_dim=2)
        self.noise = torch.Generator().manual_seed(seed + 1)   # the "perturbation" generator

    def losses(self, batch, *, step):
        ids = batch["ids"]
        q = self.encoder(ids)
        k = self.momentum.forward_key(ids)
        p = self.encoder(ids) + 0.1 * torch.randn(q.shape, generator=self.noise)
        snap = self.queue.get()
        extra = snap.feats if len(snap) else None
        losses = {"contrastive": info_nce(q, k, temperature=0.1, extra_keys=extra),
                  "perturbed": info_nce(p, k, temperature=0.1, extra_keys=extra),
                  "va": F.mse_loss(torch.tanh(self.va_head(q)), batch["va"])}
        logs = {"mean_cos": float(F.cosine_similarity(q.detach(), k, dim=1).mean())}
        return StepOutput(losses, logs, keys=k.detach(), va=batch["va"], ids=ids)

    def loss_weights(self, step):
        return {"contrastive": 1.0, "perturbed": min(1.0, step / 2), "va": 0.5}

    def after_step(self, step, out):
        self.momentum.update(0.9)
        self.queue.enqueue(out.keys, va=out.va, sample_ids=out.ids)

    @torch.no_grad()
    def embed(self, texts, *, batch_size=64, which="query"):
        was = self.training
        self.eval()
        ids = torch.tensor([int(t.split()[-1]) for t in texts])
        enc = self.encoder if which == "query" else self.momentum.key
        e = F.normalize(enc(ids), dim=1)
        self.train(was)
        return e


class ToySampler:
    "Shuffled batches of `batch_size` ids per epoch (seed + epoch), resumable from (epoch, position)."
    def __init__(self, n, *, batch_size, seed=0):
        self.n, self.batch_size, self.seed, self.epoch, self.position = n, batch_size, seed, 0, 0

    def __len__(self): return self.n // self.batch_size

    def __iter__(self):
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(1000 * self.seed + self.epoch)).tolist()
        while self.position < len(self):
            b = perm[self.position * self.batch_size:(self.position + 1) * self.batch_size]
            self.position += 1
            yield b
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self): return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, s): self.epoch, self.position = int(s["epoch"]), int(s["position"])


def toy_data(config, *, evaluate=None):
    va = torch.linspace(-0.9, 0.9, N_TEXTS)
    va = torch.stack([va, va.flip(0)], 1)
    def collate(idx):
        idx = torch.as_tensor(idx)
        return {"texts": [f"text {i}" for i in idx.tolist()], "va": va[idx],
                "has_va": torch.ones(len(idx), 2, dtype=torch.bool), "ids": idx,
                "is_word": torch.zeros(len(idx), dtype=torch.bool)}
    return TrainData(sampler=ToySampler(N_TEXTS, batch_size=config.batch_size, seed=config.seed), collate=collate,
                     evaluate=evaluate)


def toy_config(**kw):
    base = dict(device="cpu", steps=14, batch_size=4, warmup_steps=3, lr=1e-2, head_lr=3e-2, weight_decay=0.01,
                grad_clip=1.0, eval_every=0, checkpoint_every=3, keep_checkpoints=2, seed=0)
    return TrainConfig().replace(**{**base, **kw})


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--kill-at", type=int, default=None)
    ap.add_argument("--die-in-save", type=int, default=None,
                    help="SIGKILL between writing checkpoint STEP and its rename")
    args = ap.parse_args(argv)
    if args.die_in_save is not None:
        real_replace, doomed = os.replace, f"tmp-step-{args.die_in_save:06d}"
        def replace_or_die(src, dst):
            if os.path.basename(src) == doomed: os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        os.replace = replace_or_die
    config = toy_config(steps=args.steps)
    model = ToyModel()
    if args.kill_at is not None:
        after = model.after_step
        def after_then_die(step, out):
            after(step, out)
            if step == args.kill_at: os.kill(os.getpid(), signal.SIGKILL)
        model.after_step = after_then_die
    res = train(config, out_dir=args.out_dir, resume="auto", model=model, data=toy_data(config), progress=False)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:   # under `accelerate launch`: every rank dumps its weights, to check they stayed in sync
        torch.save(model.state_dict(), os.path.join(args.out_dir, f"rank{rank}.pt"))
    print(f"done rank {rank}/{world} step {res.step}")


if __name__ == "__main__":
    sys.exit(main())
