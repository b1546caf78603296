"Loop references and cross-checks for carl_nb.circumplex and carl_nb.circumplex_plots."
import math
import numpy as np
import pytest
import scipy.stats
import torch

from carl_nb.circumplex import (EMOTION_VA, TAXONOMIES, angle_map, circ_diff, circ_mean, circ_std,
                                circular_correlation, circular_quantile, emotion_to_va, nearest_emotions, polar_to_va,
                                rescale_va, unwrap, va_to_polar)
from carl_nb.circumplex_plots import circumplex_fit, ssm_parameters


def _rng(seed=0): return np.random.default_rng(seed)


# ---------------------------------------------------------------- loop references (math only)
def ref_fisher_lee(a, b):
    a, b = [math.radians(x) for x in a], [math.radians(x) for x in b]
    num = da = db = 0.0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            sa, sb = math.sin(a[i] - a[j]), math.sin(b[i] - b[j])
            num += sa * sb
            da += sa * sa
            db += sb * sb
    return num / math.sqrt(da * db)


def ref_js(a, b):
    def mean(x):
        return math.atan2(sum(math.sin(math.radians(t)) for t in x), sum(math.cos(math.radians(t)) for t in x))
    ma, mb = mean(a), mean(b)
    sa = [math.sin(math.radians(t) - ma) for t in a]
    sb = [math.sin(math.radians(t) - mb) for t in b]
    return sum(p * q for p, q in zip(sa, sb)) / math.sqrt(sum(p * p for p in sa) * sum(q * q for q in sb))


def ref_ssm_lstsq(scores, angles):
    "Independent reference: numpy least squares of s = e + x cos θ + y sin θ, then a, d and R²."
    s, r = np.asarray(scores, float), np.radians(np.asarray(angles, float))
    design = np.column_stack([np.ones_like(r), np.cos(r), np.sin(r)])
    (e, x, y), *_ = np.linalg.lstsq(design, s, rcond=None)
    fitted = design @ np.array([e, x, y])
    r2 = 1 - np.sum((s - fitted) ** 2) / np.sum((s - s.mean()) ** 2)
    return e, x, y, math.hypot(x, y), math.degrees(math.atan2(y, x)) % 360, r2


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
    a = r.uniform(0, 360, 25)
    b = a + r.normal(0, 40, 25)
    assert circular_correlation(a, b).item() == pytest.approx(ref_fisher_lee(a, b), rel=1e-9, abs=1e-9)
    c = r.uniform(0, 90, 25)   # concentrated: js has a centre
    d = c + r.normal(0, 20, 25)
    assert circular_correlation(c, d, method="js").item() == pytest.approx(ref_js(c, d), rel=1e-9, abs=1e-9)


def test_fisher_lee_float32_close_to_float64():
    a = _rng(4).uniform(0, 360, 40)
    b = a + _rng(5).normal(0, 30, 40)
    r64 = circular_correlation(torch.tensor(a), torch.tensor(b)).item()
    r32 = circular_correlation(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)).item()
    assert r32 == pytest.approx(r64, abs=1e-4)


def test_js_unstable_on_even_spread_fisher_lee_is_not():
    ang = np.arange(0, 360, 30.)
    with pytest.raises(ValueError, match="fisher_lee"):
        circular_correlation(ang, ang + 5, method="js")
    assert circular_correlation(ang, ang + 5).item() == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["fisher_lee", "js"])
def test_correlation_of_a_constant_set_raises(dtype, method):
    other = torch.tensor(_rng(7).uniform(0, 90, 15), dtype=dtype)
    const = torch.full((15,), 123.0, dtype=dtype)
    with pytest.raises(ValueError, match="a has no spread"):
        circular_correlation(const, other, method=method)
    with pytest.raises(ValueError, match="b has no spread"):
        circular_correlation(other, const, method=method)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_undefined_mean_and_std_warn(dtype):
    even = torch.arange(0, 360, 30.0, dtype=dtype)
    with pytest.warns(RuntimeWarning, match="cancel out"):
        assert torch.isnan(circ_mean(even))
    with pytest.warns(RuntimeWarning, match="infinite"):
        assert torch.isinf(circ_std(even))
    with pytest.raises(ValueError, match="no circular mean"):
        circular_quantile(even, 0.5)


# ---------------------------------------------------------------- conversions and table
def test_polar_round_trip_and_poles():
    va = torch.tensor(_rng(6).uniform(-1, 1, (300, 2)))
    np.testing.assert_allclose(polar_to_va(*va_to_polar(va)).numpy(), va.numpy(), atol=1e-9)
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
    va = torch.tensor(EMOTION_VA.loc[defined, ["valence", "arousal"]].to_numpy(float))
    np.testing.assert_allclose(va_to_polar(va)[0].numpy(), EMOTION_VA.angle_deg[defined].to_numpy(float), atol=1e-9)


def test_emotion_lookup_errors_suggest():
    with pytest.raises(ValueError, match="did you mean"):
        emotion_to_va("suprise")
    assert nearest_emotions(emotion_to_va("fear"), k=1).emotion.item() == "fear"


# ---------------------------------------------------------------- SSM
PROFILE = ([0.37, -0.57, -0.52, 0.02, 0.69, 1.42, 1.58, 0.68], [90, 135, 180, 225, 270, 315, 360, 45])
GOEMOTIONS_ANGLES = np.array(list(angle_map("warriner", taxonomy="goemotions").values()))


def _params(res):
    return [res.elevation, res.x, res.y, res.amplitude, res.displacement, res.fit]


@pytest.mark.parametrize("angles", [np.arange(0, 360, 45.), np.arange(0, 360, 30.), GOEMOTIONS_ANGLES,
                                    np.array([0., 10., 20., 100., 200.])], ids=["oct", "12", "goemotions", "uneven"])
@pytest.mark.parametrize("e, a, delta", [(0.3, 0.5, 90.0), (-1.0, 2.0, 200.0), (0.0, 0.1, 10.0)])
def test_ssm_recovers_a_known_cosine_curve(angles, e, a, delta):
    scores = e + a * np.cos(np.radians(angles - delta))
    res = ssm_parameters(scores, angles)
    np.testing.assert_allclose([res.elevation, res.amplitude, res.fit], [e, a, 1.0], rtol=1e-9, atol=1e-9)
    assert abs(circ_diff(res.displacement, delta).item()) < 1e-7


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("angles", [np.arange(0, 360, 45.), GOEMOTIONS_ANGLES], ids=["oct", "goemotions"])
def test_ssm_matches_numpy_lstsq_on_noisy_profiles(seed, angles):
    r = _rng(seed)
    scores = 0.2 + 0.5 * np.cos(np.radians(angles - 70)) + r.normal(0, 0.2, len(angles))
    got = _params(ssm_parameters(scores, angles))
    want = ref_ssm_lstsq(scores, angles)
    np.testing.assert_allclose(got[:4] + got[5:], want[:4] + want[5:], rtol=1e-9, atol=1e-9)
    assert abs(circ_diff(got[4], want[4]).item()) < 1e-7


def test_ssm_closed_form_is_the_even_spacing_special_case():
    scores, angles = np.array(PROFILE[0]), np.array(PROFILE[1], float)       # 8 evenly spaced octants
    r = np.radians(angles)
    closed = (scores.mean(), 2 * np.mean(scores * np.cos(r)), 2 * np.mean(scores * np.sin(r)))
    res = ssm_parameters(scores, angles)
    np.testing.assert_allclose([res.elevation, res.x, res.y], closed, rtol=1e-9, atol=1e-9)
    # on the uneven GoEmotions map the closed form is wrong and least squares is right
    truth = 0.3 + 0.5 * np.cos(np.radians(GOEMOTIONS_ANGLES - 90))
    rg = np.radians(GOEMOTIONS_ANGLES)
    closed_amp = math.hypot(2 * np.mean(truth * np.cos(rg)), 2 * np.mean(truth * np.sin(rg)))
    assert closed_amp < 0.25
    assert ssm_parameters(truth, GOEMOTIONS_ANGLES).amplitude == pytest.approx(0.5, rel=1e-9)


def test_ssm_one_hot_by_hand():
    res = ssm_parameters([1, 0, 0, 0, 0, 0, 0, 0], range(0, 360, 45))
    np.testing.assert_allclose(_params(res), [1 / 8, 1 / 4, 0, 1 / 4, 0, 2 / 7], atol=1e-9)
    assert ssm_parameters([1, 0, 0, 0, 0, 0, 0, 0], range(0, 360, 45), zero_as_360=True).displacement == 360.0


@pytest.mark.parametrize("delta", [10.0, 123.0, 359.0])
def test_ssm_rotation_and_constant(delta):
    base = ssm_parameters(*PROFILE)
    rot = ssm_parameters(PROFILE[0], np.array(PROFILE[1]) + delta)
    assert circ_diff(rot.displacement, base.displacement + delta).item() == pytest.approx(0, abs=1e-9)
    assert (rot.elevation, rot.amplitude, rot.fit) == pytest.approx((base.elevation, base.amplitude, base.fit))
    up = ssm_parameters(np.array(PROFILE[0]) - delta, PROFILE[1])
    assert up.elevation == pytest.approx(base.elevation - delta)
    assert (up.x, up.y, up.amplitude, up.displacement, up.fit) == pytest.approx(
        (base.x, base.y, base.amplitude, base.displacement, base.fit))


def test_ssm_degenerate_input():
    with pytest.warns(RuntimeWarning, match="constant"):
        res = ssm_parameters([1.0, 1.0, 1.0, 1.0], [0, 90, 180, 270])
    assert not res.displacement_reliable and math.isnan(res.fit)
    with pytest.raises(ValueError, match="3 distinct directions"):
        ssm_parameters([1.0, 2.0, 3.0, 4.0], [0, 180, 360, 540])


# ---------------------------------------------------------------- circumplex_fit
def test_circumplex_fit_recovers_a_noisy_circle():
    ang = np.arange(0, 360, 30.)
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(64, 2, generator=g, dtype=torch.float64))[0]
    va = polar_to_va(torch.tensor(ang), 0.8)
    noise = 0.02 * torch.randn(12, 64, generator=g, dtype=torch.float64)
    z = va @ basis.T + noise + 5.0   # offset: centring removes it
    fit = circumplex_fit(z, va)
    assert fit.angle_error_deg < 5 and fit.circular_corr > 0.95 and fit.order_consistency == 1.0
