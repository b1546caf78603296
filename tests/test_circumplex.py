"Loop references and cross-checks for carl_nb.circumplex and carl_nb.circumplex_plots."
import math
import numpy as np
import pytest
import scipy.stats
import torch

from carl_nb.circumplex import (EMOTION_VA, TAXONOMIES, circ_diff, circ_mean, circ_std, circular_correlation,
                                circular_quantile, emotion_to_va, nearest_emotions, polar_to_va, rescale_va, unwrap,
                                va_to_polar)
from carl_nb.circumplex_plots import circumplex_fit, ssm_parameters


def _rng(seed=0): return np.random.default_rng(seed)


# ---------------------------------------------------------------- loop references (math only)
def ref_fisher_lee(a, b):
    a, b = [math.radians(x) for x in a], [math.radians(x) for x in b]
    num = da = db = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            sa, sb = math.sin(a[i] - a[j]), math.sin(b[i] - b[j])
            num += sa * sb; da += sa * sa; db += sb * sb
    return num / math.sqrt(da * db)


def ref_js(a, b):
    def mean(x):
        return math.atan2(sum(math.sin(math.radians(t)) for t in x), sum(math.cos(math.radians(t)) for t in x))
    ma, mb = mean(a), mean(b)
    sa = [math.sin(math.radians(t) - ma) for t in a]; sb = [math.sin(math.radians(t) - mb) for t in b]
    return sum(p * q for p, q in zip(sa, sb)) / math.sqrt(sum(p * p for p in sa) * sum(q * q for q in sb))


def ref_ssm(scores, angles):
    n = len(scores)
    e = sum(scores) / n
    x = 2 / n * sum(s * math.cos(math.radians(t)) for s, t in zip(scores, angles))
    y = 2 / n * sum(s * math.sin(math.radians(t)) for s, t in zip(scores, angles))
    a = math.hypot(x, y)
    d = math.degrees(math.atan2(y, x)) % 360
    d = 360.0 if d == 0 else d
    sse = sum((s - (e + a * math.cos(math.radians(t - d)))) ** 2 for s, t in zip(scores, angles))
    sst = sum((s - e) ** 2 for s in scores)
    return e, x, y, a, d, 1 - sse / sst


# ---------------------------------------------------------------- circular statistics
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_circ_mean_std_match_scipy(dtype):
    x = _rng(1).vonmises(1.0, 2.0, 200)
    deg = torch.tensor(np.degrees(x), dtype=dtype)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    assert abs(circ_diff(circ_mean(deg), np.degrees(scipy.stats.circmean(x))).item()) < tol * 10
    assert abs(circ_std(deg).item() - np.degrees(scipy.stats.circstd(x))) < tol * 100


def test_unwrap_matches_numpy():
    x = np.cumsum(_rng(2).uniform(-170, 170, 50)) % 360
    np.testing.assert_allclose(unwrap(x).numpy(), np.degrees(np.unwrap(np.radians(x))), atol=1e-9)


def test_circ_diff_range_and_antisymmetry():
    a, b = _rng(3).uniform(-720, 720, (2, 1000))
    d = circ_diff(a, b)
    assert ((d > -180) & (d <= 180)).all()
    np.testing.assert_allclose(np.cos(np.radians(d.numpy())), np.cos(np.radians(a - b)), atol=1e-9)
    off = (d.abs() < 180)
    np.testing.assert_allclose(circ_diff(b, a)[off].numpy(), -d[off].numpy(), atol=1e-9)


def test_quantile_median_of_arc_across_seam():
    ang = np.array([340., 350., 0., 10., 20.])
    assert circular_quantile(ang, 0.5).item() == pytest.approx(0.0, abs=1e-9)
    lo, hi = circular_quantile(ang, [0.0, 1.0]).tolist()
    assert (lo, hi) == (pytest.approx(340.0), pytest.approx(20.0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_match_loop_references(seed):
    r = _rng(seed)
    a = r.uniform(0, 360, 25); b = a + r.normal(0, 40, 25)
    assert circular_correlation(a, b).item() == pytest.approx(ref_fisher_lee(a, b), abs=1e-10)
    c = r.uniform(0, 90, 25); d = c + r.normal(0, 20, 25)   # concentrated: js has a centre
    assert circular_correlation(c, d, method="js").item() == pytest.approx(ref_js(c, d), abs=1e-10)


def test_fisher_lee_float32_close_to_float64():
    a = _rng(4).uniform(0, 360, 40); b = a + _rng(5).normal(0, 30, 40)
    r64 = circular_correlation(torch.tensor(a), torch.tensor(b)).item()
    r32 = circular_correlation(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)).item()
    assert r32 == pytest.approx(r64, abs=1e-4)


def test_js_unstable_on_even_spread_fisher_lee_is_not():
    ang = np.arange(0, 360, 30.)
    with pytest.raises(ValueError, match="fisher_lee"):
        circular_correlation(ang, ang + 5, method="js")
    assert circular_correlation(ang, ang + 5).item() == pytest.approx(1.0)


# ---------------------------------------------------------------- conversions and table
def test_polar_round_trip_and_poles():
    va = torch.tensor(_rng(6).uniform(-1, 1, (300, 2)))
    np.testing.assert_allclose(polar_to_va(*va_to_polar(va)).numpy(), va.numpy(), atol=1e-12)
    ang, rad = va_to_polar(torch.eye(2))
    assert ang.tolist() == [0.0, 90.0] and rad.tolist() == [1.0, 1.0]
    assert math.isnan(va_to_polar([0.0, 0.0])[0].item())


def test_rescale_warriner_and_nrc():
    assert rescale_va(torch.tensor([3.0]))[0].item() == pytest.approx(-0.5)
    assert rescale_va([0.25], from_range=(0, 1))[0].item() == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="from_range"):
        rescale_va([0.0])


def test_table_covers_taxonomies_and_every_row_is_sourced():
    for names in TAXONOMIES.values():
        assert set(names) <= set(EMOTION_VA.emotion)
    assert EMOTION_VA.source.notna().all() and (EMOTION_VA.note.str.len() > 0).all()
    assert set(EMOTION_VA.loc[EMOTION_VA.russell_status == "verified anchor", "emotion"]) == set(TAXONOMIES["russell8"])
    assert (EMOTION_VA.loc[TAXONOMIES["russell28"], "russell_status"] == "unconfirmed").all()
    defined = EMOTION_VA.angle_deg.notna()
    np.testing.assert_allclose(va_to_polar(torch.tensor(EMOTION_VA.loc[defined, ["valence", "arousal"]].to_numpy(float)))[0].numpy(),
                               EMOTION_VA.angle_deg[defined].to_numpy(float), atol=1e-9)


def test_emotion_lookup_errors_suggest():
    with pytest.raises(ValueError, match="did you mean"):
        emotion_to_va("suprise")
    assert nearest_emotions(emotion_to_va("fear"), k=1).emotion.item() == "fear"


# ---------------------------------------------------------------- SSM
R_EXAMPLE = ([0.37, -0.57, -0.52, 0.02, 0.69, 1.42, 1.58, 0.68], [90, 135, 180, 225, 270, 315, 360, 45])


def test_ssm_matches_loop_reference_on_r_docs_example():
    # the example profile from the R circumplex package's ssm_parameters() documentation
    res = ssm_parameters(*R_EXAMPLE)
    got = (res.elevation, res.x, res.y, res.amplitude, res.displacement, res.fit)
    np.testing.assert_allclose(got, ref_ssm(*R_EXAMPLE), atol=1e-12)


def test_ssm_one_hot_by_hand():
    res = ssm_parameters([1, 0, 0, 0, 0, 0, 0, 0], range(0, 360, 45))
    np.testing.assert_allclose([res.elevation, res.x, res.y, res.amplitude, res.displacement, res.fit],
                               [1 / 8, 1 / 4, 0, 1 / 4, 360, 2 / 7], atol=1e-12)


@pytest.mark.parametrize("delta", [10.0, 123.0, 359.0])
def test_ssm_rotation_and_constant(delta):
    base = ssm_parameters(*R_EXAMPLE)
    rot = ssm_parameters(R_EXAMPLE[0], np.array(R_EXAMPLE[1]) + delta)
    assert circ_diff(rot.displacement, base.displacement + delta).item() == pytest.approx(0, abs=1e-9)
    assert (rot.elevation, rot.amplitude, rot.fit) == pytest.approx((base.elevation, base.amplitude, base.fit))
    up = ssm_parameters(np.array(R_EXAMPLE[0]) - delta, R_EXAMPLE[1])
    assert up.elevation == pytest.approx(base.elevation - delta)
    assert (up.x, up.y, up.amplitude, up.displacement, up.fit) == pytest.approx((base.x, base.y, base.amplitude, base.displacement, base.fit))


def test_ssm_amplitude_zero_flagged():
    res = ssm_parameters([1.0, 1.0, 1.0, 1.0], [0, 90, 180, 270])
    assert not res.displacement_reliable and math.isnan(res.fit)


# ---------------------------------------------------------------- circumplex_fit
def test_circumplex_fit_recovers_a_noisy_circle():
    ang = np.arange(0, 360, 30.)
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(64, 2, generator=g, dtype=torch.float64))[0]
    va = polar_to_va(torch.tensor(ang), 0.8)
    z = va @ basis.T + 0.02 * torch.randn(12, 64, generator=g, dtype=torch.float64) + 5.0   # offset: centring removes it
    fit = circumplex_fit(z, va)
    assert fit.angle_error_deg < 5 and fit.circular_corr > 0.95 and fit.order_consistency == 1.0
