"""Vectorised consistency/circumplex/VA-regression losses and alignment/uniformity metrics against their loop
references (carl_nb.testing.geometry), in float32 and float64, plus invariants and bad input."""
import math

import pytest
import torch

from carl_nb.losses.consistency import (relative_l2_consistency, batch_centroids, adaptive_calibration_weights,
                                        RelativeL2Consistency)
from carl_nb.losses.circumplex import (circumplex_loss, va_regression_loss, label_angles, CircumplexLoss,
                                      VARegressionLoss)
from carl_nb.metrics import alignment, uniformity, cosine_similarity_matrix, positive_pairs, embedding_report
from carl_nb.core import l2_normalize
from carl_nb.testing import circle_embeddings, random_embeddings, toy_va
from carl_nb.testing.geometry import (ref_relative_l2_consistency, ref_circumplex_loss, ref_va_regression_loss,
                                      ref_alignment, ref_uniformity, ref_va_to_angle_deg)

DTYPES = [torch.float32, torch.float64]
RTOL = {torch.float32: 2e-5, torch.float64: 1e-9}


def close(fast, slow, dtype, scale=1.0):
    assert fast.dtype == dtype
    assert torch.equal(torch.isnan(fast), torch.isnan(slow))
    tol = RTOL[dtype] * scale
    torch.testing.assert_close(fast.nan_to_num(), slow.nan_to_num().to(dtype), rtol=tol, atol=tol)


def features(kind, dtype, n=12, dim=48, seed=0):
    if kind == "circle": return circle_embeddings(torch.linspace(0, 330, n), dim=dim, noise=0.2, seed=seed, dtype=dtype)
    return random_embeddings(n, dim, seed=seed, dtype=dtype, normalize=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("distance", ["ratio", "scale_free", "softmax_ce"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("masked", [False, True])
def test_relative_l2_matches_reference(dtype, kind, distance, reduction, masked):
    feats = features(kind, dtype)
    cents = features(kind, dtype, n=4, seed=1)
    labels = torch.arange(12) % 4
    mask = torch.tensor([True, False, True, True]) if masked else None
    for normalize in (True, False):
        kw = dict(distance=distance, temperature=0.7, normalize=normalize, centroid_mask=mask, reduction=reduction)
        close(relative_l2_consistency(feats, labels, cents, **kw),
              ref_relative_l2_consistency(feats, labels, cents, **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relative_l2_gradients_match_reference(dtype):
    feats = features("random", dtype).requires_grad_()
    cents, labels = features("random", dtype, n=3, seed=2), torch.arange(12) % 3
    for distance in ("ratio", "scale_free", "softmax_ce"):
        g_fast, = torch.autograd.grad(relative_l2_consistency(feats, labels, cents, distance=distance), feats)
        g_slow, = torch.autograd.grad(ref_relative_l2_consistency(feats, labels, cents, distance=distance), feats)
        torch.testing.assert_close(g_fast, g_slow, rtol=RTOL[dtype] * 50, atol=RTOL[dtype] * 50)


def test_relative_l2_invariants():
    feats, cents = features("random", torch.float64), features("random", torch.float64, n=3, seed=3)
    labels = torch.arange(12) % 3
    for distance in ("ratio", "scale_free"):
        per = relative_l2_consistency(feats, labels, cents, distance=distance, normalize=False, reduction="none")
        assert ((per > 0) & (per < 1)).all()
        small = relative_l2_consistency(0.01 * feats, labels, 0.01 * cents, distance=distance, normalize=False,
                                        reduction="none")
        torch.testing.assert_close(small, per)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    for distance in ("ratio", "scale_free", "softmax_ce"):
        torch.testing.assert_close(relative_l2_consistency(feats[perm], labels[perm], cents, distance=distance),
                                   relative_l2_consistency(feats, labels, cents, distance=distance))
    # collapse of all centres onto one point: exactly 1/C, not the minimum
    point = torch.full((3, 48), 0.3, dtype=torch.float64)
    torch.testing.assert_close(relative_l2_consistency(feats, labels, point, normalize=False),
                               torch.tensor(1 / 3, dtype=torch.float64))


def test_relative_l2_finite_gradients_and_module():
    feats = features("random", torch.float64)
    labels = torch.arange(12) % 3
    for cents in (feats[:3].clone(), torch.zeros(3, 48, dtype=torch.float64)):
        for distance in ("ratio", "scale_free", "softmax_ce"):
            f = feats.clone().requires_grad_()
            relative_l2_consistency(f, labels, cents, distance=distance, normalize=False).backward()
            assert torch.isfinite(f.grad).all()
    module = RelativeL2Consistency(num_classes=3)
    cents, present = batch_centroids(feats, labels, 3, normalize=True)
    torch.testing.assert_close(module(feats, labels),
                               relative_l2_consistency(feats, labels, cents, centroid_mask=present))
    w = adaptive_calibration_weights(feats, labels, cents)
    assert ((w >= 0) & (w <= 1)).all() and not w.requires_grad


def test_relative_l2_bad_input():
    feats, cents = features("random", torch.float64), features("random", torch.float64, n=3, seed=3)
    labels = torch.arange(12) % 3
    with pytest.raises(ValueError, match="labels has 5"): relative_l2_consistency(feats, labels[:5], cents)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        relative_l2_consistency(feats, labels + 1, cents)
    with pytest.raises(ValueError, match="centroids must have shape"):
        relative_l2_consistency(feats, labels, cents[:, :5])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        relative_l2_consistency(feats, labels, cents, distance="softmax_ce", temperature=0)
    with pytest.raises(ValueError, match="distance must be one of"):
        relative_l2_consistency(feats, labels, cents, distance="l1")
    with pytest.raises(ValueError, match="feats contains"): relative_l2_consistency(feats * float("inf"), labels, cents)
    with pytest.raises(ValueError, match="feats is empty"): relative_l2_consistency(feats[:0], labels[:0], cents)


def angle_lists(dtype):
    va = toy_va(10, seed=3).to(dtype)
    va[4] = float("nan")
    va[7] = 0.0
    deg = torch.tensor([10., 10., 370., 200., float("nan"), 90., 300., 90., 45., 180.], dtype=dtype)
    ref_va = [None if torch.isnan(r).any() else ref_va_to_angle_deg(*r.double().tolist()) for r in va]
    ref_deg = [None if math.isnan(a) else a % 360 for a in deg.tolist()]
    return [(va, ref_va), (deg, ref_deg)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [0.0, 0.15])
def test_circumplex_matches_reference(dtype, kind, reduction, margin):
    z = features(kind, dtype, n=10)
    for targets, ref_angles in angle_lists(dtype):
        close(circumplex_loss(z, targets, margin=margin, reduction=reduction),
              ref_circumplex_loss(z, ref_angles, margin=margin, reduction=reduction), dtype, scale=5)
    names = ["love", "joy", "joy", "fear", "sadness", "trust", "calmness", "love", "fear", "relief"]
    amap = {"love": 0., "joy": 30., "fear": 150., "sadness": 210., "calmness": 270., "relief": 300., "trust": 330.}
    close(circumplex_loss(z, names, angle_map=amap, margin=margin, reduction=reduction),
          ref_circumplex_loss(z, [amap[n] for n in names], labels=names, margin=margin, reduction=reduction),
          dtype, scale=5)


def test_circumplex_invariants():
    amap = {"love": 0., "joy": 30., "fear": 150., "sadness": 210., "calmness": 270.}
    names = list(amap) * 3
    z = circle_embeddings([amap[n] for n in names], dim=16)
    assert circumplex_loss(z, names, angle_map=amap).item() == pytest.approx(0.0, abs=1e-9)
    zr = random_embeddings(15, 16, seed=1)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(circumplex_loss(zr[perm], [names[i] for i in perm], angle_map=amap),
                               circumplex_loss(zr, names, angle_map=amap))
    # the loss is the mean over pairs i<j, computed here independently from the cosines and target cosines
    zn = torch.nn.functional.normalize(zr, dim=1)
    phi = torch.deg2rad(torch.tensor([amap[n] for n in names], dtype=torch.float64))
    i, j = torch.triu_indices(15, 15, offset=1)
    err = (zn[i] * zn[j]).sum(1) - torch.cos(phi[i] - phi[j])
    same = torch.tensor([names[a] == names[b] for a, b in zip(i.tolist(), j.tolist())])
    pair_mean = torch.where(same, err.abs() ** 2, err ** 2).mean()
    torch.testing.assert_close(circumplex_loss(zr, names, angle_map=amap), pair_mean)
    # and the mean of the per-anchor terms (each anchor averages its B-1 pairs) is that same pair mean
    torch.testing.assert_close(circumplex_loss(zr, names, angle_map=amap, reduction="none").mean(), pair_mean)
    # a larger dead zone never raises the loss
    assert circumplex_loss(zr, names, angle_map=amap, margin=0.3) <= circumplex_loss(zr, names, angle_map=amap)
    # fewer than two samples with an angle: zero that keeps the graph
    zg = zr.clone().requires_grad_()
    with pytest.warns(RuntimeWarning, match="only 1 of 15 samples have an angle"):
        out = circumplex_loss(zg, ["joy"] + ["meh"] * 14, angle_map=amap, unknown="drop")
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    antipodal = torch.tensor([[1., 0], [-1., 0], [1., 0], [-1., 0]], dtype=torch.float64)
    for zz in (torch.ones(4, 3, dtype=torch.float64), antipodal):
        zz.requires_grad_()
        circumplex_loss(zz, torch.tensor([0., 180., 90., 0.]), margin=0.1).backward()
        assert torch.isfinite(zz.grad).all()


def test_circumplex_names_through_table():
    circumplex = pytest.importorskip("carl_nb.circumplex")
    names = ["joy", "sadness", "fear", "neutral", "calmness"]
    angles = label_angles(names)
    assert torch.isnan(angles[3])
    v, a = circumplex.emotion_to_va("fear").tolist()
    assert angles[2].item() == pytest.approx(math.degrees(math.atan2(a, v)) % 360)
    z = random_embeddings(5, 8, seed=0)
    torch.testing.assert_close(CircumplexLoss()(z, names), circumplex_loss(z, angles, labels=torch.arange(5)))
    with pytest.raises(ValueError, match="unknown emotion"):
        circumplex_loss(z, ["joy", "sadnes", "fear", "joy", "joy"])


def test_circumplex_bad_input():
    z = random_embeddings(4, 6, seed=0)
    with pytest.raises(ValueError, match="targets has 3"): circumplex_loss(z, torch.tensor([0., 1., 2.]))
    with pytest.raises(ValueError, match="margin must be >= 0"): circumplex_loss(z, torch.zeros(4), margin=-1)
    with pytest.raises(ValueError, match="rescale"): circumplex_loss(z, torch.full((4, 2), 2.0))
    with pytest.raises(ValueError, match="not in angle_map"):
        circumplex_loss(z, ["a", "b", "c", "d"], angle_map={"a": 0.})
    with pytest.raises(ValueError, match="z contains"): circumplex_loss(z * float("nan"), torch.zeros(4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["mse", "ccc"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_va_regression_matches_reference(dtype, kind, reduction):
    va, pred = toy_va(30, seed=1).to(dtype), (0.5 * toy_va(30, seed=2) + 0.1).to(dtype)
    fast = va_regression_loss(pred, va, kind, reduction=reduction)
    close(fast, ref_va_regression_loss(pred, va, kind, reduction), dtype, scale=10)
    torch.testing.assert_close(VARegressionLoss(kind, reduction=reduction)(pred, va), fast)


def test_va_regression_bad_input():
    va = toy_va(5)
    with pytest.raises(ValueError, match="must match"): va_regression_loss(va[:, :1], va)
    with pytest.raises(ValueError, match="at least 2 rows"): va_regression_loss(va[:1], va[:1], "ccc")
    with pytest.raises(ValueError, match="rescale"): va_regression_loss(va, va * 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["circle", "random"])
def test_metrics_match_reference(dtype, kind):
    x, y = features(kind, dtype, n=20, seed=1), features(kind, dtype, n=20, seed=2)
    for alpha in (1.0, 2.0):
        close(alignment(x, y, alpha), ref_alignment(x, y, alpha), dtype, scale=5)
    for t in (1.0, 2.0):
        close(uniformity(x, t), ref_uniformity(x, t), dtype, scale=5)


def test_metric_invariants():
    x = random_embeddings(30, 8, seed=0)
    assert alignment(x, x).item() == 0.0
    even = circle_embeddings(torch.arange(16) * 22.5)
    clustered = circle_embeddings(torch.linspace(0, 20, 16))
    assert uniformity(even) < uniformity(clustered)
    torch.testing.assert_close(uniformity(x), torch.pdist(x).pow(2).mul(-2).exp().mean().log())
    torch.testing.assert_close(cosine_similarity_matrix(x).diagonal(), torch.ones(30, dtype=torch.float64))
    i, j = positive_pairs(va=toy_va(30, seed=1), va_threshold=0.3)
    rep = embedding_report(x, va=toy_va(30, seed=1), va_threshold=0.3)
    assert rep.n_pairs == len(i) and rep.alignment == pytest.approx(alignment(x[i], x[j]).item())
    report_cls = type(embedding_report(x, labels=torch.arange(30) % 3))
    assert "&lt;" in report_cls(1, 2, None, 0.0, 0.0, 0, "<b>", pair_cosines=None)._repr_html_()
    with pytest.raises(ValueError, match="at least 2 rows"): uniformity(x[:1])
    with pytest.raises(ValueError, match="y has 4"): alignment(x, x[:4])


# ---------------------------------------------------------------- half precision and degenerate input
HALF = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", HALF)
def test_losses_in_half_precision_match_float64_on_the_same_inputs(dtype):
    z = random_embeddings(12, 64, seed=3).to(dtype)
    feats, cents, labels = z, random_embeddings(4, 64, seed=4).to(dtype), torch.arange(12) % 4
    va = toy_va(12, seed=4).to(dtype)
    pred = (0.6 * toy_va(12, seed=4) + 0.3 * toy_va(12, seed=5)).clamp(-1, 1).to(dtype)
    deg = torch.arange(12) * 30.0
    pairs = [(lambda t, c, y, p: circumplex_loss(t, deg)),
             (lambda t, c, y, p: va_regression_loss(p, y)),
             (lambda t, c, y, p: va_regression_loss(p, y, "ccc")),
             (lambda t, c, y, p: relative_l2_consistency(t, labels, c)),
             (lambda t, c, y, p: relative_l2_consistency(t, labels, c, distance="softmax_ce"))]
    for loss in pairs:
        got = loss(feats, cents, va, pred)
        want = loss(feats.double(), cents.double(), va.double(), pred.double())
        assert got.dtype == torch.float32 and torch.isfinite(got)
        torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", HALF)
def test_zero_rows_are_refused_not_nan(dtype):
    z = random_embeddings(6, 8, seed=1).to(dtype)
    z[2] = 0
    with pytest.raises(ValueError, match="z has 1 all-zero vector"):
        circumplex_loss(z, torch.arange(6) * 60.0)
    with pytest.raises(ValueError, match="feats has 1 all-zero vector"):
        relative_l2_consistency(z, torch.arange(6) % 3, random_embeddings(3, 8, seed=2).to(dtype))
    x = l2_normalize(z)
    assert torch.isfinite(x).all() and (x[2] == 0).all()


def test_zero_row_gets_zero_gradient():
    z = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    (l2_normalize(z) * torch.randn(3, 4, dtype=torch.float64)).sum().backward()
    assert torch.equal(z.grad, torch.zeros(3, 4, dtype=torch.float64))


def test_degenerate_batches_warn():
    with pytest.warns(RuntimeWarning, match="0/0"):
        out = va_regression_loss(torch.zeros(4, 2), torch.zeros(4, 2), "ccc", reduction="none")
    assert out.tolist() == [1.0, 1.0]
    feats = random_embeddings(6, 8, seed=1)
    with pytest.warns(RuntimeWarning, match="no sample's own class has a usable centre"):
        relative_l2_consistency(feats, torch.zeros(6, dtype=torch.long), random_embeddings(3, 8, seed=2),
                                centroid_mask=torch.tensor([False, True, True]))
