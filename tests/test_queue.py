"Tests for carl_nb.queue that are better outside the notebook: multi-process DDP, file round trips, randomised layouts."
import os, random
from collections import deque

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from carl_nb.queue import FeatureQueue, MomentumEncoder, own_key_mask, cosine_momentum, va_bins


# ---------------------------------------------------------------- DDP gather (2 gloo processes on CPU)
# Per rank and step: the sample ids it enqueues (unequal sizes, one empty batch).
_DDP_BATCHES = {0: [[0, 1, 2], [3], []], 1: [[100, 101], [102, 103, 104, 105], [106]]}


def _ddp_worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        q = FeatureQueue(dim=3, size=6, label_dim=2, num_classes=2)
        for ids in _DDP_BATCHES[rank]:
            sid = torch.tensor(ids, dtype=torch.long)
            feats = sid[:, None].float().repeat(1, 3)          # row content encodes its id
            va = torch.stack([sid.float() / 200, -sid.float() / 200], 1)
            q.enqueue(feats, va=va, classes=sid % 2, sample_ids=sid)
        torch.save(q.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_gather_two_ranks(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "pg"), str(tmp_path)), nprocs=2, join=True)
    s0, s1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for k in s0:  # every rank holds the same queue
        assert torch.equal(s0[k], s1[k]), k
    # step 1 writes [0,1,2,100,101] to slots 0-4; step 2 writes [3,102..105] to slots 5,0,1,2,3; step 3 writes [106] to slot 4
    assert s0["sample_ids"].tolist() == [102, 103, 104, 105, 106, 3]
    assert s0["feats"][:, 0].tolist() == [102, 103, 104, 105, 106, 3]
    assert s0["classes"].tolist() == [0, 1, 0, 1, 0, 1]
    assert int(s0["ptr"]) == 5 and int(s0["n_filled"]) == 6


def test_gather_false_skips_collectives(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        q = FeatureQueue(dim=2, size=4, label_dim=0, gather=False).enqueue(torch.ones(3, 2))
        assert len(q) == 3
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- layout against a deque reference
@pytest.mark.parametrize("size", [1, 5, 7, 16])
def test_random_batches_match_deque(size):
    rng = random.Random(size)
    q, ref, next_id = FeatureQueue(dim=2, size=size, label_dim=1), deque(maxlen=size), 0
    for _ in range(40):
        n = rng.randint(0, 2 * size + 1)
        ids = torch.arange(next_id, next_id + n); next_id += n
        q.enqueue(ids[:, None].float().repeat(1, 2), va=ids[:, None].float(), sample_ids=ids)
        ref.extend(ids.tolist())
        s = q.get()
        chronological = s.sample_ids[torch.argsort(s.ages(), descending=True)].tolist()
        assert chronological == list(ref)
        assert torch.equal(s.feats[:, 0].long(), s.sample_ids) and torch.equal(s.va[:, 0].long(), s.sample_ids)


# ---------------------------------------------------------------- resume through a checkpoint file
def test_state_dict_file_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    a = FeatureQueue(dim=4, size=9, num_classes=3)
    def batch(n):
        return dict(feats=torch.randn(n, 4, generator=g), va=torch.rand(n, 2, generator=g) * 2 - 1,
                    classes=torch.randint(0, 3, (n,), generator=g), sample_ids=torch.randint(0, 50, (n,), generator=g))
    for n in (4, 4, 3): a.enqueue(**batch(n))
    torch.save({"queue": a.state_dict()}, tmp_path / "ckpt.pt")
    b = FeatureQueue(dim=4, size=9, num_classes=3)
    b.load_state_dict(torch.load(tmp_path / "ckpt.pt")["queue"])
    nxt = batch(5)
    a.enqueue(**nxt); b.enqueue(**nxt)
    for k, t in a.state_dict().items():
        assert torch.equal(t.nan_to_num(-9.), b.state_dict()[k].nan_to_num(-9.)), k
    assert torch.equal(a.centroids().centers.nan_to_num(-9.), b.centroids().centers.nan_to_num(-9.))


def test_wrong_size_checkpoint_fails_loudly():
    a = FeatureQueue(dim=4, size=9)
    with pytest.raises(RuntimeError, match="size mismatch"):
        FeatureQueue(dim=4, size=8).load_state_dict(a.state_dict())


# ---------------------------------------------------------------- dtypes and casting
def test_casting_and_half_storage():
    q = FeatureQueue(dim=3, size=4, dtype=torch.float16)
    q.enqueue(torch.randn(2, 3, dtype=torch.float64), va=torch.zeros(2, 2, dtype=torch.float64),
              sample_ids=torch.tensor([1, 2], dtype=torch.int32))
    s = q.get()
    assert s.feats.dtype == torch.float16 and s.va.dtype == torch.float16 and s.sample_ids.dtype == torch.long
    assert s.feats.requires_grad is False


def test_enqueue_detaches():
    x = torch.randn(3, 2, requires_grad=True)
    q = FeatureQueue(dim=2, size=4, label_dim=0).enqueue(x * 2)
    assert not q.get().feats.requires_grad and x.grad is None


# ---------------------------------------------------------------- centroids
def test_empty_class_is_nan_with_zero_count():
    q = FeatureQueue(dim=2, size=8, num_classes=3)
    q.enqueue(torch.tensor([[1., 1.], [3., 1.]]), va=torch.zeros(2, 2), classes=torch.tensor([0, 0]))
    c = q.centroids("classes")
    assert c.counts.tolist() == [2, 0, 0]
    assert c.centers[0].tolist() == [2., 1.] and torch.isnan(c.centers[1:]).all()
    assert list(c.to_frame()["count"]) == [2, 0, 0]


def test_va_bin_centroids_by_quadrant():
    va = torch.tensor([[.9, .1], [.1, .9], [-.5, .2], [-.3, -.3], [.4, -.8], [.6, .5]])
    feats = torch.arange(12.).view(6, 2)
    q = FeatureQueue(dim=2, size=10).enqueue(feats, va=va)
    c = q.centroids("va_bins")
    assert c.counts.tolist() == [3, 1, 1, 1]
    assert torch.allclose(c.centers[0], feats[[0, 1, 5]].mean(0))
    assert va_bins(va, n_bins=8).tolist() == [0, 1, 3, 5, 6, 0]


# ---------------------------------------------------------------- momentum encoder on a real (tiny) BERT
def test_momentum_encoder_on_tiny_bert():
    enc_mod = pytest.importorskip("carl_nb.encoders")
    tok, model = enc_mod.tiny_encoder(seed=0)
    me = MomentumEncoder(model).train()
    batch = tok(["a happy day", "so sad"], return_tensors="pt", padding=True)
    assert not me.key.training and me.query.training
    k1 = me.forward_key(**batch).last_hidden_state
    assert torch.equal(k1, me.forward_key(**batch).last_hidden_state)   # eval-mode keys: no dropout noise
    me(**batch).last_hidden_state.pow(2).mean().backward()
    assert all(p.grad is None for p in me.key.parameters())
    with torch.no_grad():
        for p in me.query.parameters(): p.add_(0.01)
        for b in me.query.buffers(): b.add_(1)     # position_ids / token_type_ids of BertEmbeddings: copied, not averaged
    me.update(cosine_momentum(0, 10, base=0.5))
    for (n, pk), pq in zip(me.key.named_parameters(), me.query.parameters()):
        assert torch.allclose(pk, pq - 0.005, atol=1e-6), n
    names = [n for n, _ in me.key.named_buffers()]
    assert names, "tiny BERT should have buffers"
    for (n, bk), bq in zip(me.key.named_buffers(), me.query.buffers()):
        assert torch.equal(bk, bq) and int(bk.flatten()[0]) == 1, n


def test_own_key_mask_with_logits():
    q = FeatureQueue(dim=2, size=5, label_dim=0).enqueue(torch.eye(2).repeat(2, 1), sample_ids=torch.tensor([0, 1, 2, 3]))
    anchors = torch.eye(2)
    logits = (anchors @ q.get().feats.T).masked_fill(q.own_key_mask(torch.tensor([0, 3])), float("-inf"))
    assert torch.isinf(logits[0, 0]) and torch.isinf(logits[1, 3]) and torch.isfinite(logits).sum() == 6
    assert own_key_mask(torch.tensor([-1]), torch.tensor([-1])).sum() == 0
