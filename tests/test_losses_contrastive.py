"""Reference equality and invariants for carl_nb.losses.contrastive and carl_nb.losses.angular.

Every vectorised loss must equal its loop reference (carl_nb.testing.contrastive) in float32 and float64,
on circle and random high-dimensional embeddings, with and without queue keys, for every reduction.
"""
import math
import warnings

import pytest
import torch

from carl_nb.losses import (info_nce, supcon_loss, va_weights, va_contrastive_loss, arccon_loss, arccse_triplet_loss,
                            span_mask, ArcConLoss, InfoNCELoss, SupConLoss, VAContrastiveLoss, ARC_FALLBACKS)
from carl_nb.testing import circle_embeddings, random_embeddings, toy_va
from carl_nb.testing.contrastive import (ref_info_nce, ref_supcon, ref_va_weights, ref_va_contrastive, ref_arccon,
                                         ref_arccse_triplet)

DTYPES = [(torch.float32, 2e-5), (torch.float64, 1e-10)]
REDUCTIONS = ["mean", "sum", "none"]


def close(a, b, tol):
    a, b = torch.as_tensor(a).double().nan_to_num(), torch.as_tensor(b).double().nan_to_num()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a, b)


def batch(kind, n, dtype, seed):
    "Embeddings on a circle in 16-d (angles you can picture) or random in 64-d."
    if kind == "circle":
        ang = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 360
        return circle_embeddings(ang, dim=16, seed=0, dtype=dtype)
    return random_embeddings(n, 64 if kind == "random" else 16, seed=seed, dtype=dtype)


def extra(kind, use, dtype):
    return batch(kind, 5, dtype, 99) if use else None


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_info_nce_and_arccon_match_reference(dtype, tol, kind, use_extra, reduction):
    q, k, e = batch(kind, 7, dtype, 1), batch(kind, 7, dtype, 2), extra(kind, use_extra, dtype)
    close(info_nce(q, k, 0.1, e, reduction), ref_info_nce(q, k, 0.1, e, reduction), tol)
    for fb in ARC_FALLBACKS:
        close(arccon_loss(q, k, 12.0, 0.1, e, reduction, fb), ref_arccon(q, k, 12.0, 0.1, e, reduction, fb), tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_supcon_matches_reference(dtype, tol, kind, use_extra, reduction):
    z, e = batch(kind, 10, dtype, 3), extra(kind, use_extra, dtype)
    y, ye = torch.tensor([0, 1, 1, 2, 0, 3, 1, 4, 4, 5]), torch.tensor([5, 3, 9, 9, 0])
    a, sa = supcon_loss(z, y, 0.2, e, ye if use_extra else None, reduction, return_stats=True)
    b, nb = ref_supcon(z, y, 0.2, e, ye if use_extra else None, reduction, return_stats=True)
    close(a, b, tol)
    assert sa.n_without_positive == nb and sa.n_anchors == 10


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("variant", ["soft", "weighted_neg"])
@pytest.mark.parametrize("kernel,bw", [("gaussian", 0.5), ("linear", 0.8), ("indicator", 0.7), ("inverse", 0.4)])
def test_va_contrastive_matches_reference(dtype, tol, kind, use_extra, variant, kernel, bw):
    q, k, e = batch(kind, 6, dtype, 4), batch(kind, 6, dtype, 5), extra(kind, use_extra, dtype)
    vq, vk, ve = toy_va(6, 1, dtype), toy_va(6, 2, dtype), toy_va(5, 3, dtype)
    ex = torch.rand(6, 11 if use_extra else 6, generator=torch.Generator().manual_seed(2)) < 0.25
    ex.diagonal().fill_(False)
    for reduction in REDUCTIONS:
        for exclude in (None, ex):
            kw = dict(extra_keys=e, extra_va=ve if use_extra else None, exclude=exclude, reduction=reduction, variant=variant)
            close(va_contrastive_loss(q, k, vq, vk, 0.1, kernel, bw, **kw), ref_va_contrastive(q, k, vq, vk, 0.1, kernel, bw, **kw), tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("metric", ["angle", "cosine"])
def test_triplet_matches_reference(dtype, tol, reduction, metric):
    h, h1, h2 = (random_embeddings(8, 32, seed=s, dtype=dtype) for s in (6, 7, 8))
    close(arccse_triplet_loss(h, h1, h2, 5.0, reduction, metric), ref_arccse_triplet(h, h1, h2, 5.0, reduction, metric), tol)


def test_va_weights_match_reference():
    a, b = toy_va(5, 1), toy_va(7, 2)
    for kern in ["gaussian", "linear", "inverse", "indicator"]:
        close(va_weights(a, b, kern, 0.6), ref_va_weights(a, b, kern, 0.6), 1e-12)


def test_invariants():
    z = random_embeddings(8, 16, seed=1)
    groups = torch.tensor([0, 1, 0, 2, 1, 1, 3, 2])
    gva = toy_va(4, 5)[groups]
    for red in REDUCTIONS:  # va_contrastive == supcon under group labels + indicator + diagonal excluded
        close(va_contrastive_loss(z, z, gva, gva, 0.1, "indicator", 1e-9, exclude="diagonal", reduction=red),
              supcon_loss(z, groups, 0.1, reduction=red), 1e-12)
    q, k = random_embeddings(8, 16, seed=2), random_embeddings(8, 16, seed=3)
    va = circle_embeddings(torch.arange(8) * 45.0)  # distinct labels
    for red in REDUCTIONS:  # == info_nce with distinct labels + indicator
        close(va_contrastive_loss(q, k, va, va, 0.05, "indicator", 0.1, reduction=red), info_nce(q, k, 0.05, reduction=red), 1e-12)
        close(arccon_loss(q, k, 0.0, 0.05, reduction=red), info_nce(q, k, 0.05, reduction=red), 1e-12)


def test_permutation_invariance():
    q, k, e = random_embeddings(8, 16, seed=4), random_embeddings(8, 16, seed=5), random_embeddings(3, 16, seed=6)
    vq, vk, ve, y = toy_va(8, 1), toy_va(8, 2), toy_va(3, 3), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    p = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    for f, args in [(info_nce, (q, k)), (arccon_loss, (q, k))]:
        close(f(*[a[p] for a in args], extra_keys=e), f(*args, extra_keys=e), 1e-12)
    close(supcon_loss(q[p], y[p]), supcon_loss(q, y), 1e-12)
    close(va_contrastive_loss(q[p], k[p], vq[p], vk[p], extra_keys=e, extra_va=ve),
          va_contrastive_loss(q, k, vq, vk, extra_keys=e, extra_va=ve), 1e-12)
    h2 = random_embeddings(8, 16, seed=7)
    close(arccse_triplet_loss(q[p], k[p], h2[p], reduction="none"), arccse_triplet_loss(q, k, h2, reduction="none")[p], 1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_finite_gradients_identical_and_antipodal(dtype, sign):
    base = torch.ones(6, 16, dtype=dtype)
    q, k = base.clone().requires_grad_(), (sign * base).clone().requires_grad_()
    loss = (info_nce(q, k) + supcon_loss(q, torch.tensor([0, 0, 1, 1, 2, 2])) + arccse_triplet_loss(q, k, k.flip(0))
            + va_contrastive_loss(q, k, toy_va(6, 0, dtype), toy_va(6, 1, dtype))
            + va_contrastive_loss(q, k, toy_va(6, 0, dtype), toy_va(6, 1, dtype), variant="weighted_neg")
            + sum(arccon_loss(q, k, 30.0, fallback=fb) for fb in ARC_FALLBACKS))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()


@pytest.mark.parametrize("fallback", ARC_FALLBACKS)
def test_larger_margin_never_lowers_arccon(fallback):
    q = random_embeddings(6, 8, seed=7)
    k = torch.cat([random_embeddings(3, 8, seed=8), q[3:4], -q[4:5], -0.95 * q[5:] + 0.1 * q[:1]])
    top = 116 if fallback == "arcface" else 179
    losses = torch.stack([arccon_loss(q, k, m, 0.1, reduction="none", fallback=fallback) for m in torch.linspace(0, top, 60).tolist()])
    assert (losses.diff(dim=0) >= -1e-12).all()


def test_supcon_counts_anchors_without_positive():
    z = random_embeddings(5, 8, seed=9)
    loss, st = supcon_loss(z, torch.tensor([0, 0, 1, 2, 3]), return_stats=True)
    assert st.n_without_positive == 3 and st.n_used == 2 and torch.isfinite(loss)
    with pytest.warns(UserWarning, match="none of the 5 anchors"):
        loss = supcon_loss(z, torch.arange(5))
    assert loss.item() == 0.0
    m = SupConLoss(); m(z, torch.tensor([0, 0, 1, 2, 3])); assert m.last_stats.n_without_positive == 3


@pytest.mark.parametrize("call,msg", [
    (lambda q, k: info_nce(q, k[:3]), "k has shape (3, 8) but q has (5, 8)"),
    (lambda q, k: info_nce(q, k, temperature=0.0), "temperature must be > 0"),
    (lambda q, k: info_nce(q, k, temperature=-1), "temperature must be > 0"),
    (lambda q, k: info_nce(q * float("nan"), k), "q contains"),
    (lambda q, k: info_nce(q, k, extra_keys=k * float("inf")), "extra_keys contains"),
    (lambda q, k: info_nce(q[:0], k[:0]), "empty"),
    (lambda q, k: supcon_loss(q, torch.tensor([0, 1])), "z has 5 rows but labels has 2"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(4)), "k has 5 rows but va_k has 4"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5) * 4, toy_va(5)), "rescale_va"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), kernel="epanechnikov"), "kernel must be one of"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), bandwidth=-1), "bandwidth must be > 0"),
    (lambda q, k: arccon_loss(q, k, margin_deg=-1), "margin_deg must be >= 0"),
    (lambda q, k: arccse_triplet_loss(q, k, k[:2]), "h_heavy has shape (2, 8) but h has (5, 8)"),
    (lambda q, k: span_mask(torch.ones(2, 5, dtype=torch.long), 0.0), "ratio must be > 0"),
    (lambda q, k: VAContrastiveLoss(kernel="nope"), "kernel must be one of"),
    (lambda q, k: ArcConLoss(margin_deg=200), "[0, 180)"),
    (lambda q, k: InfoNCELoss(temperature=0), "temperature must be > 0"),
])
def test_bad_input(call, msg):
    q, k = random_embeddings(5, 8, seed=1), random_embeddings(5, 8, seed=2)
    with pytest.raises(ValueError, match=None) as e:
        call(q, k)
    assert msg in str(e.value), str(e.value)


def test_span_mask_nested_and_contiguous():
    ids = torch.arange(40).repeat(6, 1)
    special = torch.zeros(6, 40, dtype=torch.bool)
    special[:, 0] = True
    for i, n in enumerate([38, 30, 17, 9, 3, 1]):
        special[i, n + 1:] = True
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        light = span_mask(ids, 0.2, special, g)
        heavy = span_mask(ids, 0.4, special, g, contain=light)
        assert not ((light | heavy) & special).any() and not (light & ~heavy).any()
        for m in (light, heavy):
            for row in m:
                idx = row.nonzero().flatten()
                assert len(idx) >= 1 and (idx.diff() == 1).all()


def test_gradients_match_finite_differences():
    "The in-place logits, the fused normalisation and the queue-aware product give exact gradients."
    g = torch.Generator().manual_seed(0)
    q, k, e = (torch.randn(n, 5, generator=g, dtype=torch.float64, requires_grad=True) for n in (4, 4, 3))
    vq, vk, ve, y, ye = toy_va(4, 1), toy_va(4, 2), toy_va(3, 3), torch.tensor([0, 0, 1, 2]), torch.tensor([1, 2, 2])
    checks = {
        "info_nce": lambda q, k, e: info_nce(q, k, 0.5, e, "sum"),
        "supcon": lambda q, k, e: supcon_loss(q, y, 0.5, e, ye, "sum"),
        "va_soft": lambda q, k, e: va_contrastive_loss(q, k, vq, vk, 0.5, extra_keys=e, extra_va=ve, reduction="sum"),
        "va_weighted_neg": lambda q, k, e: va_contrastive_loss(q, k, vq, vk, 0.5, extra_keys=e, extra_va=ve, variant="weighted_neg"),
        "arccon": lambda q, k, e: arccon_loss(q, k, 20.0, 0.5, e),
        "triplet": lambda q, k, e: arccse_triplet_loss(q, k, torch.cat([e, q[:1]]), 1.0, "sum"),
    }
    for name, f in checks.items():
        assert torch.autograd.gradcheck(f, (q, k, e)), name
