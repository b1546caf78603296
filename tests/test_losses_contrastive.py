"""Reference equality and invariants for carl_nb.losses.contrastive, carl_nb.losses.carl and carl_nb.losses.angular.

Every vectorised loss must equal its loop reference (carl_nb.testing.contrastive) in float32 and float64 (and, computed
in float32, for bfloat16/float16 inputs), on circle and random high-dimensional embeddings, with and without queue
keys, for every reduction. Tolerances are relative: BLAS kernels (MKL's AVX-512 vs AVX2 paths) sum in other orders.
"""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from carl_nb.losses import (info_nce, supcon_loss, va_weights, va_contrastive_loss, arccon_loss, arccse_triplet_loss,
                            span_mask, ArcConLoss, InfoNCELoss, SupConLoss, VAContrastiveLoss, ARC_FALLBACKS,
                            VA_VARIANTS)
from carl_nb.testing import circle_embeddings, random_embeddings, toy_va
from carl_nb.testing.contrastive import (ref_info_nce, ref_supcon, ref_va_weights, ref_va_contrastive, ref_arccon,
                                         ref_arccse_triplet)

DTYPES = [(torch.float32, 2e-5), (torch.float64, 1e-9)]
REDUCTIONS = ["mean", "sum", "none"]


def close(a, b, rtol):
    "Relative comparison (NaN = NaN); the absolute floor, 5% of rtol, is the rounding of a logit ~1/τ near a loss of 0."
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * 0.05, equal_nan=True)


def batch(kind, n, dtype, seed):
    "Embeddings on a circle in 16-d (angles you can picture) or random in 64-d."
    if kind == "circle":
        ang = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 360
        return circle_embeddings(ang, dim=16, seed=0, dtype=dtype)
    return random_embeddings(n, 64, seed=seed, dtype=dtype)


def extra(kind, use, dtype):
    return batch(kind, 5, dtype, 99) if use else None


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_info_nce_and_arccon_match_reference(dtype, tol, kind, use_extra, reduction):
    q, k, e = batch(kind, 7, dtype, 1), batch(kind, 7, dtype, 2), extra(kind, use_extra, dtype)
    k[0] = q[0]  # a positive at exactly 0°: the case acos got wrong by 8e-9
    kw = dict(temperature=0.1, extra_keys=e, reduction=reduction)
    close(info_nce(q, k, **kw), ref_info_nce(q, k, **kw), tol)
    for fb in ARC_FALLBACKS:
        close(arccon_loss(q, k, margin_deg=12.0, fallback=fb, **kw), ref_arccon(q, k, margin_deg=12.0, fallback=fb, **kw),
              tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_supcon_matches_reference(dtype, tol, kind, use_extra, reduction):
    z, e = batch(kind, 10, dtype, 3), extra(kind, use_extra, dtype)
    y, ye = torch.tensor([0, 1, 1, 2, 0, 3, 1, 4, 4, 5]), torch.tensor([5, 3, 9, 9, 0])
    kw = dict(temperature=0.2, extra_keys=e, extra_labels=ye if use_extra else None, reduction=reduction,
              return_stats=True)
    (a, sa), (b, nb, hb) = supcon_loss(z, y, **kw), ref_supcon(z, y, **kw)
    close(a, b, tol)
    close(sa.target_entropy, hb, tol)
    assert sa.n_without_positive == nb and sa.n_anchors == 10


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("use_extra", [False, True])
@pytest.mark.parametrize("variant", VA_VARIANTS)
@pytest.mark.parametrize("kernel,bw", [("gaussian", 0.5), ("gaussian", 0.2), ("linear", 0.8), ("indicator", 0.7),
                                       ("inverse", 0.4)])
def test_va_contrastive_matches_reference(dtype, tol, kind, use_extra, variant, kernel, bw):
    q, k, e = batch(kind, 6, dtype, 4), batch(kind, 6, dtype, 5), extra(kind, use_extra, dtype)
    vq, vk, ve = toy_va(6, 1, dtype), toy_va(6, 2, dtype), toy_va(5, 3, dtype)
    ex = torch.rand(6, 11 if use_extra else 6, generator=torch.Generator().manual_seed(2)) < 0.25
    ex.diagonal().fill_(False)
    masks = [{}, dict(exclude=ex)] + ([dict(exclude_extra=ex[:, 6:])] if use_extra else [])
    other = dict(self_weight=0.9, rescale_negatives=False)
    cases = [("none", m, {}) for m in masks] + [("mean", masks[-1], {}), ("sum", masks[-1], other)]
    for reduction, mask, opts in cases:
        kw = dict(temperature=0.1, kernel=kernel, bandwidth=bw, extra_keys=e, extra_va=ve if use_extra else None,
                  reduction=reduction, variant=variant, **mask, **opts)
        close(va_contrastive_loss(q, k, vq, vk, **kw), ref_va_contrastive(q, k, vq, vk, **kw), tol)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("metric", ["angle", "cosine"])
def test_triplet_matches_reference(dtype, tol, reduction, metric):
    h, h1, h2 = (random_embeddings(8, 32, seed=s, dtype=dtype) for s in (6, 7, 8))
    h1[0] = h[0]
    h2[1] = -h[1]
    kw = dict(margin_deg=5.0, reduction=reduction, metric=metric)
    close(arccse_triplet_loss(h, h1, h2, **kw), ref_arccse_triplet(h, h1, h2, **kw), tol)


def test_va_weights_match_reference():
    a, b = toy_va(5, 1), toy_va(7, 2)
    for kern in ["gaussian", "linear", "inverse", "indicator"]:
        close(va_weights(a, b, kernel=kern, bandwidth=0.6), ref_va_weights(a, b, kernel=kern, bandwidth=0.6), 1e-12)


# --- half precision and tiny / zero rows -------------------------------------------------------------------------

HALF = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("tau", [0.07, 0.02, 0.01])
def test_half_precision_matches_reference(dtype, tau):
    q, k, e = (random_embeddings(n, 16, seed=s, dtype=torch.float32) for n, s in ((6, 1), (6, 2), (5, 3)))
    q[1] = 1e-4 * q[1]  # tiny: its float16 squares underflow
    q, k, e = q.to(dtype), k.to(dtype), e.to(dtype)
    vq, vk, ve, y = toy_va(6, 4).float(), toy_va(6, 5).float(), toy_va(5, 6).float(), torch.tensor([0, 0, 1, 1, 2, 3])
    ex = torch.zeros(6, 11, dtype=torch.bool)
    ex[0, 3] = ex[4, 8] = True
    pairs = [(info_nce(q, k, temperature=tau, extra_keys=e), ref_info_nce(q, k, temperature=tau, extra_keys=e)),
             (supcon_loss(q, y, temperature=tau), ref_supcon(q, y, temperature=tau)),
             (arccon_loss(q, k, temperature=tau, extra_keys=e), ref_arccon(q, k, temperature=tau, extra_keys=e))]
    for variant in VA_VARIANTS:
        kw = dict(temperature=tau, variant=variant, extra_keys=e, extra_va=ve, exclude=ex)
        pairs.append((va_contrastive_loss(q, k, vq, vk, **kw), ref_va_contrastive(q, k, vq, vk, **kw)))
    for ours, ref in pairs:
        assert ours.dtype == torch.float32 and torch.isfinite(ours)
        close(ours, ref, 2e-5)


@pytest.mark.parametrize("dtype", HALF + [torch.float64])
def test_zero_rows_raise_naming_argument_and_row(dtype):
    q, k = random_embeddings(5, 8, 1).to(dtype), random_embeddings(5, 8, 2).to(dtype)
    zq, zk = q.index_fill(0, torch.tensor([3]), 0), k.index_fill(0, torch.tensor([1]), 0)
    e = random_embeddings(4, 8, 3).to(dtype).index_fill(0, torch.tensor([2]), 0)
    va = toy_va(5).float()
    for call, msg in [(lambda: info_nce(zq, k), "q row 3 is all zeros"),
                      (lambda: info_nce(q, k, extra_keys=e), "extra_keys row 2 is all zeros"),
                      (lambda: supcon_loss(zk, torch.arange(5)), "z row 1 is all zeros"),
                      (lambda: va_contrastive_loss(q, zk, va, va), "k row 1 is all zeros"),
                      (lambda: arccon_loss(zq, k), "q row 3 is all zeros"),
                      (lambda: arccse_triplet_loss(q, zk, k), "h_light row 1 is all zeros"),
                      (lambda: ref_arccon(zq, k), "q row 3 is zero")]:
        with pytest.raises(ValueError, match=None) as err:
            call()
        assert msg in str(err.value), str(err.value)


def test_near_zero_rows_agree_with_reference():
    q, k = random_embeddings(4, 8, 1, dtype=torch.float32), random_embeddings(4, 8, 2, dtype=torch.float32)
    q[0], k[0], k[2] = 1e-30 * q[0], 1e-35 * q[0], 1e-38 * k[2]  # squares underflow float32; θ_00 = 0
    for fb in ARC_FALLBACKS:
        close(arccon_loss(q, k, fallback=fb), ref_arccon(q, k, fallback=fb), 2e-5)
    close(info_nce(q, k), ref_info_nce(q, k), 2e-5)


# --- plain autograd ----------------------------------------------------------------------------------------------

def test_gradients_and_second_derivatives_are_autograds():
    "gradcheck and gradgradcheck in float64: no hand-written backward left to get second-order gradients wrong."
    g = torch.Generator().manual_seed(0)
    q, k, e = (torch.randn(n, 3, generator=g, dtype=torch.float64, requires_grad=True) for n in (3, 3, 2))
    vq, vk, ve, y, ye = toy_va(3, 1), toy_va(3, 2), toy_va(2, 3), torch.tensor([0, 0, 1]), torch.tensor([1, 2])
    checks = {
        "info_nce": lambda q, k, e: info_nce(q, k, temperature=0.5, extra_keys=e, reduction="sum"),
        "supcon": lambda q, k, e: supcon_loss(q, y, temperature=0.5, extra_keys=e, extra_labels=ye) + 0 * k.sum(),
        "arccon": lambda q, k, e: arccon_loss(q, k, margin_deg=20.0, temperature=0.5, extra_keys=e),
        "triplet": lambda q, k, e: arccse_triplet_loss(q, k, torch.cat([e, q[:1]]), margin_deg=1.0, reduction="sum"),
    }
    for variant in VA_VARIANTS:
        checks[variant] = lambda q, k, e, v=variant: va_contrastive_loss(
            q, k, vq, vk, temperature=0.5, bandwidth=0.5, variant=v, extra_keys=e, extra_va=ve, reduction="sum")
    for name, f in checks.items():
        assert torch.autograd.gradcheck(f, (q, k, e)), name
        assert torch.autograd.gradgradcheck(f, (q, k, e)), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_finite_gradients_identical_and_antipodal(dtype, sign):
    base = torch.ones(6, 16, dtype=dtype)
    q, k = base.clone().requires_grad_(), (sign * base).clone().requires_grad_()
    va0, va1 = toy_va(6, 0).float(), toy_va(6, 1).float()
    loss = (info_nce(q, k) + supcon_loss(q, torch.tensor([0, 0, 1, 1, 2, 2])) + arccse_triplet_loss(q, k, k.flip(0))
            + sum(va_contrastive_loss(q, k, va0, va1, variant=v) for v in VA_VARIANTS)
            + sum(arccon_loss(q, k, margin_deg=30.0, fallback=fb) for fb in ARC_FALLBACKS))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all()


# --- relations and invariants ------------------------------------------------------------------------------------

def test_relations():
    z = random_embeddings(8, 16, seed=1)
    groups = torch.tensor([0, 1, 0, 2, 1, 1, 3, 2])
    gva = toy_va(4, 5)[groups]
    q, k, e = random_embeddings(8, 16, seed=2), random_embeddings(8, 16, seed=3), random_embeddings(3, 16, seed=4)
    va = circle_embeddings(torch.arange(8) * 45.0)  # distinct labels
    ve = torch.tensor([[0.5, 0.0]], dtype=torch.float64).repeat(3, 1)
    for red in REDUCTIONS:  # soft == supcon under group labels + indicator + diagonal excluded
        close(va_contrastive_loss(z, z, gva, gva, temperature=0.1, kernel="indicator", bandwidth=1e-9, variant="soft",
                                  exclude="diagonal", reduction=red),
              supcon_loss(z, groups, temperature=0.1, reduction=red), 1e-9)
        ref = info_nce(q, k, temperature=0.05, extra_keys=e, reduction=red)
        close(va_contrastive_loss(q, k, va, va, temperature=0.05, self_weight=1.0, extra_keys=e, extra_va=ve,
                                  reduction=red), ref, 1e-9)  # hybrid, self_weight = 1 == info_nce
        for variant in VA_VARIANTS:  # distinct labels + indicator: every variant == info_nce
            close(va_contrastive_loss(q, k, va, va, temperature=0.05, kernel="indicator", bandwidth=0.1,
                                      variant=variant, extra_keys=e, extra_va=ve, reduction=red), ref, 1e-9)
        close(arccon_loss(q, k, margin_deg=0.0, extra_keys=e, reduction=red), ref, 1e-9)


def test_permutation_invariance():
    q, k, e = random_embeddings(8, 16, seed=4), random_embeddings(8, 16, seed=5), random_embeddings(3, 16, seed=6)
    vq, vk, ve, y = toy_va(8, 1), toy_va(8, 2), toy_va(3, 3), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    p = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    for f in (info_nce, arccon_loss):
        close(f(q[p], k[p], extra_keys=e), f(q, k, extra_keys=e), 1e-9)
    close(supcon_loss(q[p], y[p]), supcon_loss(q, y), 1e-9)
    for variant in VA_VARIANTS:
        close(va_contrastive_loss(q[p], k[p], vq[p], vk[p], variant=variant, extra_keys=e, extra_va=ve),
              va_contrastive_loss(q, k, vq, vk, variant=variant, extra_keys=e, extra_va=ve), 1e-9)
    h2 = random_embeddings(8, 16, seed=7)
    close(arccse_triplet_loss(q[p], k[p], h2[p], reduction="none"), arccse_triplet_loss(q, k, h2, reduction="none")[p],
          1e-9)


@pytest.mark.parametrize("fallback", ARC_FALLBACKS)
def test_larger_margin_never_lowers_arccon(fallback):
    q = random_embeddings(6, 8, seed=7)
    k = torch.cat([random_embeddings(3, 8, seed=8), q[3:4], -q[4:5], -0.95 * q[5:] + 0.1 * q[:1]])
    top = 116 if fallback == "arcface" else 179
    losses = torch.stack([arccon_loss(q, k, margin_deg=m, temperature=0.1, reduction="none", fallback=fallback)
                          for m in torch.linspace(0, top, 60).tolist()])
    assert (losses.diff(dim=0) >= -1e-12 * losses[1:].abs()).all()


# --- CARL's defaults are not degenerate (issue 10, item 2) --------------------------------------------------------

@pytest.fixture(scope="module")
def vader_va():
    from carl_nb.data import load_vader
    import pandas as pd
    with warnings.catch_warnings():  # the loader counts the rows without lexicon arousal; they are dropped below
        warnings.simplefilter("ignore")
        d = load_vader(lexicon_arousal=True)
    frame = pd.concat([d[s].to_pandas() for s in d], ignore_index=True)
    frame = frame[frame.arousal.notna()]
    va = torch.tensor(frame[["valence", "arousal"]].to_numpy(), dtype=torch.float32)
    pick = torch.randperm(len(va), generator=torch.Generator().manual_seed(1))[:32 + 4096]
    return va[pick[:32]], va[pick[32:]]


def _collapse_and_discrimination(va_b, va_e, **kw):
    same_b, same_e = torch.ones(32, 256), torch.ones(4096, 256)
    z_b, z_e = random_embeddings(32, 768, seed=1).float(), random_embeddings(4096, 768, seed=2).float()
    collapsed, st = va_contrastive_loss(same_b, same_b, va_b, va_b, extra_keys=same_e, extra_va=va_e,
                                        return_stats=True, **kw)
    discr = va_contrastive_loss(z_b, z_b, va_b, va_b, extra_keys=z_e, extra_va=va_e, **kw)
    return collapsed.item(), discr.item(), st.target_entropy


def test_collapse_costs_more_than_discrimination_at_defaults(vader_va):
    collapsed, discr, floor = _collapse_and_discrimination(*vader_va)
    log_n = math.log(32 + 4096)
    assert abs(collapsed - log_n) < 1e-4
    assert collapsed > discr + 1.0 and discr > floor
    collapsed, discr, floor = _collapse_and_discrimination(*vader_va, variant="weighted_neg")
    assert abs(collapsed - log_n) < 1e-4 and discr < 0.01 and floor == 0.0


def test_old_default_soft_05_is_degenerate(vader_va):
    "The issue's numbers: own-key mass ~4e-4, target entropy within 0.3 nats of log N, and collapse beats discrimination."
    va_b, va_e = vader_va
    collapsed, discr, floor = _collapse_and_discrimination(va_b, va_e, variant="soft", bandwidth=0.5)
    w = va_weights(va_b, torch.cat([va_b, va_e]), bandwidth=0.5)
    own_mass = (w.diagonal() / w.sum(1)).mean().item()
    assert 1e-4 < own_mass < 1e-3
    assert math.log(32 + 4096) - floor < 0.3
    assert discr > collapsed


# --- exclusion masks (issue 10, item 3) ----------------------------------------------------------------------------

def test_exclude_shapes_are_unambiguous_when_queue_holds_b_keys():
    B = K = 6
    q, k, e = random_embeddings(B, 8, 1), random_embeddings(B, 8, 2), random_embeddings(K, 8, 3)
    vq, vk, ve = toy_va(B, 4), toy_va(B, 5), toy_va(K, 6)
    own = torch.zeros(B, K, dtype=torch.bool)
    own[0, 3] = own[2, 0] = True  # what FeatureQueue.own_key_mask returns: (B, K) over the queue
    kw = dict(extra_keys=e, extra_va=ve)
    with pytest.raises(ValueError) as err:
        va_contrastive_loss(q, k, vq, vk, exclude=own, **kw)  # used to be read as a mask over the batch keys
    assert "exclude has shape (6, 6)" in str(err.value) and "(6, 12)" in str(err.value)
    assert "exclude_extra: a bool (6, 6)" in str(err.value)
    with pytest.raises(ValueError, match=r"exclude_extra has shape \(6, 12\)"):
        va_contrastive_loss(q, k, vq, vk, exclude_extra=F.pad(own, (6, 0)), **kw)
    a = va_contrastive_loss(q, k, vq, vk, exclude_extra=own, **kw)
    close(a, va_contrastive_loss(q, k, vq, vk, exclude=F.pad(own, (B, 0), value=False), **kw), 1e-12)
    close(a, ref_va_contrastive(q, k, vq, vk, exclude_extra=own, **kw), 1e-9)
    assert not torch.isclose(a, va_contrastive_loss(q, k, vq, vk, **kw))
    # both masks together: their union
    ex = torch.zeros(B, B + K, dtype=torch.bool)
    ex[1, 4] = True
    close(va_contrastive_loss(q, k, vq, vk, exclude=ex, exclude_extra=own, **kw),
          va_contrastive_loss(q, k, vq, vk, exclude=ex | F.pad(own, (B, 0)), **kw), 1e-12)


def test_anchor_stats_and_target_entropy():
    z = random_embeddings(5, 8, seed=9)
    loss, st = supcon_loss(z, torch.tensor([0, 0, 1, 2, 3]), return_stats=True)
    assert st.n_without_positive == 3 and st.n_used == 2 and torch.isfinite(loss) and st.target_entropy == 0.0
    with pytest.warns(UserWarning, match="none of the 5 anchors"):
        loss = supcon_loss(z, torch.arange(5))
    assert loss.item() == 0.0
    m = SupConLoss()
    m(z, torch.tensor([0, 0, 1, 2, 3]))
    assert m.last_stats.n_without_positive == 3
    q, k, va = random_embeddings(6, 8, 1), random_embeddings(6, 8, 2), toy_va(6, 3)
    for variant in VA_VARIANTS:
        loss, st = va_contrastive_loss(q, k, va, va, variant=variant, bandwidth=0.5, return_stats=True)
        _, _, h = ref_va_contrastive(q, k, va, va, variant=variant, bandwidth=0.5, return_stats=True)
        close(st.target_entropy, h, 1e-9)
        assert loss.item() >= st.target_entropy


@pytest.mark.parametrize("call,msg", [
    (lambda q, k: info_nce(q, k[:3]), "k has shape (3, 8) but q has (5, 8)"),
    (lambda q, k: info_nce(q, k, temperature=0.0), "temperature must be > 0"),
    (lambda q, k: info_nce(q, k, temperature=-1), "temperature must be > 0"),
    (lambda q, k: info_nce(q.float(), k.float(), temperature=1e-40), "although every input is"),
    (lambda q, k: info_nce(q * float("nan"), k), "q contains"),
    (lambda q, k: info_nce(q, k, extra_keys=k * float("inf")), "extra_keys contains"),
    (lambda q, k: info_nce(q[:0], k[:0]), "empty"),
    (lambda q, k: supcon_loss(q, torch.tensor([0, 1])), "z has 5 rows but labels has 2"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(4)), "k has 5 rows but va_k has 4"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5) * 4, toy_va(5)), "rescale_va"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), kernel="epanechnikov"), "kernel must be one of"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), bandwidth=-1), "bandwidth must be > 0"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), self_weight=2), "self_weight must be in [0, 1]"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), exclude="diagonal"), "needs key i as the own key"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), exclude=torch.zeros(5, 4, dtype=torch.bool)),
     "exclude has shape (5, 4); accepted"),
    (lambda q, k: va_contrastive_loss(q, k, toy_va(5), toy_va(5), exclude_extra=torch.zeros(5, 5, dtype=torch.bool)),
     "exclude_extra has shape (5, 5); accepted"),
    (lambda q, k: arccon_loss(q, k, margin_deg=-1), "margin_deg must be >= 0"),
    (lambda q, k: arccse_triplet_loss(q, k, k[:2]), "h_heavy has shape (2, 8) but h has (5, 8)"),
    (lambda q, k: span_mask(torch.ones(2, 5, dtype=torch.long), ratio=0.0), "ratio must be > 0"),
    (lambda q, k: VAContrastiveLoss(kernel="nope"), "kernel must be one of"),
    (lambda q, k: ArcConLoss(margin_deg=200), "[0, 180)"),
    (lambda q, k: InfoNCELoss(temperature=0), "temperature must be > 0"),
])
def test_bad_input(call, msg):
    q, k = random_embeddings(5, 8, seed=1), random_embeddings(5, 8, seed=2)
    with pytest.raises(ValueError, match=None) as e:
        call(q, k)
    assert msg in str(e.value), str(e.value)


def test_options_are_keyword_only():
    q, k = random_embeddings(5, 8, seed=1), random_embeddings(5, 8, seed=2)
    for call in (lambda: info_nce(q, k, 0.1), lambda: arccon_loss(q, k, 10.0),
                 lambda: va_contrastive_loss(q, k, toy_va(5), toy_va(5), 0.07),
                 lambda: supcon_loss(q, torch.arange(5), 0.1), lambda: arccse_triplet_loss(q, k, k, 5.0)):
        with pytest.raises(TypeError, match="positional"):
            call()


def test_span_mask_nested_and_contiguous():
    ids = torch.arange(40).repeat(6, 1)
    special = torch.zeros(6, 40, dtype=torch.bool)
    special[:, 0] = True
    for i, n in enumerate([38, 30, 17, 9, 3, 1]):
        special[i, n + 1:] = True
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        light = span_mask(ids, ratio=0.2, special_mask=special, generator=g)
        heavy = span_mask(ids, ratio=0.4, special_mask=special, generator=g, contain=light)
        assert not ((light | heavy) & special).any() and not (light & ~heavy).any()
        for m in (light, heavy):
            for row in m:
                idx = row.nonzero().flatten()
                assert len(idx) >= 1 and (idx.diff() == 1).all()
