"Tests for carl_nb.queue that are better outside the notebook: multi-process DDP, file round trips, randomised layouts."
import os, random, re
from collections import deque

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import carl_nb.queue as queue_mod
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
    # step 1 writes [0,1,2,100,101] to slots 0-4; step 2 writes [3,102..105] to slots 5,0,1,2,3;
    # step 3 writes [106] to slot 4
    assert s0["sample_ids"].tolist() == [102, 103, 104, 105, 106, 3]
    assert s0["feats"][:, 0].tolist() == [102, 103, 104, 105, 106, 3]
    assert s0["classes"].tolist() == [0, 1, 0, 1, 0, 1]
    assert int(s0["ptr"]) == 5 and int(s0["n_filled"]) == 6


def test_gather_false_skips_collectives(monkeypatch):
    calls = []
    def fake_gather(*tensors, group=None):  # a second "rank" that contributed one row of 7s
        calls.append(group)
        return tuple(torch.cat([t, torch.full_like(t[:1], 7)]) for t in tensors)
    monkeypatch.setattr(queue_mod, "all_gather_rows", fake_gather)
    alone = FeatureQueue(dim=2, size=4, label_dim=0, gather=False).enqueue(torch.ones(3, 2))
    assert calls == [] and len(alone) == 3
    gathered = FeatureQueue(dim=2, size=4, label_dim=0).enqueue(torch.ones(3, 2))
    assert calls == [None] and gathered.get().feats[:, 0].tolist() == [1, 1, 1, 7]


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


def _filled(size=9, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return FeatureQueue(dim=4, size=size, num_classes=3).enqueue(
        torch.randn(n, 4, generator=g), va=torch.rand(n, 2, generator=g), classes=torch.arange(n) % 3,
        sample_ids=torch.arange(n))


def _snapshot(q):
    return {k: v.clone() for k, v in q.state_dict().items()}


def _assert_unchanged(q, before):
    for k, v in q.state_dict().items():
        assert torch.equal(v.nan_to_num(-9.), before[k].nan_to_num(-9.)), k


def test_wrong_size_checkpoint_fails_loudly_and_changes_nothing():
    target = _filled(size=8, n=3, seed=1)
    before = _snapshot(target)
    with pytest.raises(RuntimeError, match="size mismatch for feats"):
        target.load_state_dict(_filled(size=9, n=9).state_dict())  # ptr 0 and n_filled 9 would have been copied
    _assert_unchanged(target, before)
    assert len(target) == 3 and target.get().sample_ids.tolist() == [0, 1, 2]


_GOOD = _filled().state_dict()
_CORRUPT = {
    "ptr=9 is outside": {**_GOOD, "ptr": torch.tensor(9)},
    "ptr=-1 is outside": {**_GOOD, "ptr": torch.tensor(-1)},
    "n_filled=10 is outside": {**_GOOD, "n_filled": torch.tensor(10)},
    "ptr == n_filled": {**_GOOD, "ptr": torch.tensor(2)},
    "feats has dtype torch.int64": {**_GOOD, "feats": _GOOD["feats"].long()},
    "classes has dtype torch.float32": {**_GOOD, "classes": _GOOD["classes"].float()},
    "n_filled has dtype torch.bool": {**_GOOD, "n_filled": torch.tensor(True)},
    "size mismatch for va": {**_GOOD, "va": torch.zeros(9, 3)},
    "feats has non-finite values": {**_GOOD, "feats": _GOOD["feats"].index_fill(0, torch.tensor([1]), float("nan"))},
    "classes of filled rows": {**_GOOD, "classes": torch.full((9,), 5)},
    "incomplete queue state": {k: v for k, v in _GOOD.items() if k != "n_filled"},
}


@pytest.mark.parametrize("message", list(_CORRUPT))
def test_corrupt_state_is_refused_before_writing(message):
    target = _filled(n=2, seed=4)
    before = _snapshot(target)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        target.load_state_dict(_CORRUPT[message])
    _assert_unchanged(target, before)
    parent = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 2), "queue": target})  # as inside a trainer's model
    with pytest.raises(RuntimeError, match="FeatureQueue queue: "):
        parent.load_state_dict({**{f"enc.{k}": v for k, v in parent["enc"].state_dict().items()},
                                **{f"queue.{k}": v for k, v in _CORRUPT[message].items()}})
    _assert_unchanged(target, before)


def test_checkpoint_through_parent_restores_exactly():
    a, b = _filled(seed=5), FeatureQueue(dim=4, size=9, num_classes=3)
    pa, pb = torch.nn.ModuleDict({"queue": a}), torch.nn.ModuleDict({"queue": b})
    pb.load_state_dict(pa.state_dict())
    assert (int(b.ptr), len(b)) == (int(a.ptr), len(a)) == (5, 5)
    nxt = dict(va=torch.zeros(6, 2), classes=torch.zeros(6, dtype=torch.long), sample_ids=torch.arange(6) + 100)
    a.enqueue(torch.ones(6, 4), **nxt)
    b.enqueue(torch.ones(6, 4), **nxt)
    _assert_unchanged(b, _snapshot(a))
    assert b.sample_ids.tolist() == [104, 105, 2, 3, 4, 100, 101, 102, 103] and int(b.ptr) == 2 and len(b) == 9


# ---------------------------------------------------------------- dtypes and casting
def test_casting_and_half_storage():
    q = FeatureQueue(dim=3, size=4, dtype=torch.float16)
    x = torch.tensor([[1 / 3, 1e-5, 70000.5], [-2.0, 0.1, 3.14159]], dtype=torch.float64)
    q.enqueue(x, va=-x[:, :2], sample_ids=torch.tensor([1, 2], dtype=torch.int32))
    s = q.get()
    assert s.feats.dtype == torch.float16 and s.va.dtype == torch.float16 and s.sample_ids.dtype == torch.long
    assert torch.equal(s.feats, x.to(torch.float16)) and torch.equal(s.va, (-x[:, :2]).to(torch.float16))
    assert s.sample_ids.tolist() == [1, 2] and torch.isinf(s.feats[0, 2])  # 70000 overflows fp16, as a cast does


def test_enqueue_copies_and_detaches():
    x = torch.randn(3, 2, requires_grad=True)
    y = x * 2
    q = FeatureQueue(dim=2, size=4, label_dim=0).enqueue(y)
    stored = q.get(copy=True).feats
    with torch.no_grad():
        y.add_(100.0)  # the caller changes its tensor after enqueueing
    assert torch.equal(q.get().feats, stored) and not torch.equal(q.get().feats, y.detach())
    assert q.get().feats.grad_fn is None and not q.get().feats.requires_grad
    y.sum().backward()  # the caller's graph is untouched by the queue
    assert torch.equal(x.grad, torch.full((3, 2), 2.0))


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
        for b in me.query.buffers(): b.add_(1)     # BertEmbeddings' position_ids / token_type_ids: copied, not averaged
    me.update(cosine_momentum(0, 10, base=0.5))
    for (n, pk), pq in zip(me.key.named_parameters(), me.query.parameters()):
        assert torch.allclose(pk, pq - 0.005, atol=1e-6), n
    names = [n for n, _ in me.key.named_buffers()]
    assert names, "tiny BERT should have buffers"
    for (n, bk), bq in zip(me.key.named_buffers(), me.query.buffers()):
        assert torch.equal(bk, bq) and int(bk.flatten()[0]) == 1, n


def test_va_bins_refuses_non_finite_offsets():
    va = torch.tensor([[0.5, 0.5], [-0.5, 0.5]])
    for bad in [float("nan"), float("inf"), -float("inf")]:
        with pytest.raises(ValueError, match="offset_deg must be a finite number"):
            va_bins(va, offset_deg=bad)
    assert va_bins(va, offset_deg=90.0).tolist() == [3, 0]


def test_own_key_mask_is_over_queue_keys_when_k_equals_b():
    q = FeatureQueue(dim=2, size=4, label_dim=0).enqueue(torch.randn(4, 2), sample_ids=torch.tensor([10, 11, 12, 13]))
    m = q.own_key_mask(torch.tensor([13, 12, 99, 10]))  # B = K = 4
    assert m.shape == (4, 4) and m.nonzero().tolist() == [[0, 3], [1, 2], [3, 0]]


def test_own_key_mask_with_logits():
    q = FeatureQueue(dim=2, size=5, label_dim=0)
    q.enqueue(torch.eye(2).repeat(2, 1), sample_ids=torch.tensor([0, 1, 2, 3]))
    anchors = torch.eye(2)
    logits = (anchors @ q.get().feats.T).masked_fill(q.own_key_mask(torch.tensor([0, 3])), float("-inf"))
    assert torch.isinf(logits[0, 0]) and torch.isinf(logits[1, 3]) and torch.isfinite(logits).sum() == 6
    assert own_key_mask(torch.tensor([-1]), torch.tensor([-1])).sum() == 0
