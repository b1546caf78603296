"Evaluation suite, probes and comparisons on small synthetic splits and local hub-schema files (no network)."
import json, math, socket, urllib.request
import numpy as np, pandas as pd, pytest
from scipy import stats
from carl_nb.evaluate import (EvalSuite, EmbeddingCache, QUICK_METRICS, as_embed_fn, eval_frames, evaluate, quick_eval,
                              random_embed_fn, unique_texts)
from carl_nb.compare import EvalReport, compare, delta, eval_row, t_interval
from carl_nb.probes import kfold_ridge, pearson, ridge_probe

def frame(n, *, prefix, seed, arousal=False):
    rng = np.random.default_rng(seed)
    v, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return pd.DataFrame({"text": [f"{prefix} {i}" for i in range(n)], "valence": v, "arousal": a if arousal else 0.0,
                         "has_valence": True, "has_arousal": arousal, "source": "warriner" if arousal else "vader",
                         "id": np.arange(n)})

@pytest.fixture(scope="module")
def splits():
    return {"validation": frame(300, prefix="val", seed=0), "test": frame(200, prefix="test", seed=1),
            "heldout_domain": frame(300, prefix="held", seed=2),
            "heldout_words": frame(300, prefix="w", seed=3, arousal=True)}

def oracle(splits, noise=0.3):
    "Embeddings whose first two coordinates are the labels (plus noise): a model that knows valence and arousal."
    table = {t: (v, a) for f in splits.values() for t, v, a in zip(f.text, f.valence, f.arousal)}
    rand = random_embed_fn(8)
    def fn(texts):
        va = np.array([table.get(t, (0.0, 0.0)) for t in texts])
        return np.column_stack([va, np.ones(len(texts)), noise * rand(texts)])
    return fn

SUITE = EvalSuite.quick(n_fit=None, n_test=None, n_heldout_domain=None, n_heldout_words=None, n_geometry=200,
                        circumplex=False)

def test_signal_is_found_and_chance_is_chance(splits):
    good = evaluate(oracle(splits), SUITE, splits=splits, progress=False)
    bad = evaluate(random_embed_fn(32), SUITE, splits=splits, progress=False)
    for task, metric in [("heldout_domain", "valence_pearson"), ("in_domain", "valence_pearson"),
                         ("heldout_words", "arousal_pearson"), ("knn_heldout_domain", "valence_pearson")]:
        assert good.value(task, metric) > 0.7, (task, metric)
        assert abs(bad.value(task, metric)) < 0.2, (task, metric)
    assert good.value("heldout_domain", "polarity_balanced_accuracy") > 0.8
    assert abs(bad.value("heldout_domain", "polarity_auc") - 0.5) < 0.12
    kinds = good.to_frame().groupby("task").kind.first()
    assert kinds["in_domain"] == "fit" and kinds["heldout_domain"] == kinds["heldout_words"] == "transfer"
    assert good.value("geometry_heldout_domain", "close_cos_gap") > 0 and good.meta["n_texts_embedded"] == 1100

def test_no_duplicate_straddles_a_split():
    s = {"validation": pd.DataFrame({"text": ["Good movie", "bad", "fine"], "valence": [0.5, -0.5, 0.1]}),
         "test": pd.DataFrame({"text": ["good  MOVIE", "meh"], "valence": [0.4, 0.0]}),
         "heldout_domain": pd.DataFrame({"text": ["bad", "great", "great"], "valence": [-0.4, 0.8, 0.6]}),
         "heldout_words": pd.DataFrame({"text": ["joy"], "valence": [0.9], "arousal": [0.5]})}
    f = eval_frames(SUITE, splits=s)
    assert f["test"].text.tolist() == ["meh"]                     # a case/space variant of a fit text is dropped
    assert f["heldout_domain"].text.tolist() == ["great"] and f["heldout_domain"].valence.iloc[0] == pytest.approx(0.7)
    fit = set(f["validation"].key)
    assert not any(fit & set(f[k].key) for k in ("test", "heldout_domain"))

def test_unique_texts_needs_text():
    with pytest.raises(ValueError, match="df needs a 'text' column"):
        unique_texts(pd.DataFrame({"x": [1]}))

def test_cache_embeds_each_text_once_and_checks_the_output():
    seen = []
    cache = EmbeddingCache(lambda t: (seen.extend(t), random_embed_fn(4)(t))[1])
    cache(["a", "b", "a"]); cache(["b", "c"])
    assert seen == ["a", "b", "c"]
    with pytest.raises(ValueError, match="non-finite or all-zero"):
        EmbeddingCache(lambda t: np.zeros((len(t), 3)))(["x"])

def test_model_kinds_are_accepted():
    class HasEmbed:          # a CarlModel-like object
        def embed(self, texts, *, batch_size=64): return random_embed_fn(4)(texts)
    class HasEncode:         # a SentenceTransformer-like object
        def encode(self, texts, **kw): return random_embed_fn(4)(texts)
    for m in (HasEmbed(), HasEncode(), random_embed_fn(4)):
        assert as_embed_fn(m)(["x", "y"]).shape == (2, 4)
    with pytest.raises(ValueError, match="model_or_embed_fn must be"):
        as_embed_fn(42)

def test_hub_is_skipped_without_any_network_request(splits, monkeypatch):
    def no_network(*a, **k): raise AssertionError("a network request was made")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = evaluate(random_embed_fn(8), EvalSuite.quick(circumplex=False, hub=("sst2", "go_emotions"), n_geometry=50),
                 splits=splits, progress=False)
    hub = r.to_frame().query("task.str.startswith('hub:')")
    assert hub.metric.tolist() == ["skipped", "skipped"] and set(hub.note) == {"skipped: hub unreachable"}
    assert hub.value.isna().all()

def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)

def test_hub_tasks_on_local_files_in_the_hub_schema(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    joy, anger = 17, 2                                            # GoEmotions ids
    ge = {s: write_jsonl(tmp_path / f"ge_{s}.jsonl", [{"text": f"ge {s} {i}", "labels": [joy if i % 2 else anger],
                                                       "id": f"{s}{i}"} for i in range(n)])
          for s, n in (("train", 120), ("test", 80))}
    eb = tmp_path / "emobank.csv"
    pd.DataFrame({"id": [f"e{i}" for i in range(200)], "split": ["train"] * 120 + ["test"] * 80,
                  "V": rng.uniform(1, 5, 200), "A": rng.uniform(1, 5, 200), "D": 3.0,
                  "text": [f"eb {i}" for i in range(200)]}).to_csv(eb, index=False)
    from carl_nb.corpora import load_corpus
    table = {}
    for name, files in (("go_emotions", ge), ("emobank", str(eb))):
        for k, ds in load_corpus(name, data_files=files).items():
            table.update({t: (v, a) for t, v, a in zip(ds["text"], ds["valence"], ds["arousal"])})
    fn = oracle({**splits, "hub": pd.DataFrame({"text": list(table), "valence": [v for v, _ in table.values()],
                                                "arousal": [a for _, a in table.values()]})}, noise=0.05)
    suite = EvalSuite.quick(circumplex=False, n_geometry=50, hub=("go_emotions", "emobank"),
                            hub_data_files={"go_emotions": ge, "emobank": str(eb)})
    r = evaluate(fn, suite, splits=splits, progress=False)
    assert r.value("hub:go_emotions", "emotion_accuracy") > 0.95
    assert r.value("hub:emobank", "arousal_pearson") > 0.9 and r.value("hub:emobank", "valence_pearson") > 0.9

def test_quick_eval_names_and_signal(splits):
    q = quick_eval(oracle(splits), splits["validation"], n=200)
    assert tuple(q) == QUICK_METRICS and q["val_valence_pearson"] > 0.8 and -4 < q["val_uniformity"] < 0
    with pytest.raises(ValueError, match="quick_eval needs at least 10"):
        quick_eval(oracle(splits), splits["validation"].iloc[:5])

def test_report_json_round_trip(tmp_path, splits):
    r = evaluate(oracle(splits), SUITE, splits=splits, progress=False, name="oracle")
    r.rows.append(eval_row("hub:x", "skipped", float("nan"), kind="transfer", n=0, note="skipped: <b>x</b>"))
    back = EvalReport.from_json(r.to_json(tmp_path / "eval.json"))
    pd.testing.assert_frame_equal(back.to_frame(), r.to_frame())
    assert back.model == "oracle" and back.seconds.keys() == r.seconds.keys()
    assert "<b>x</b>" not in r._repr_html_()

def test_probes_match_their_definitions():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(40), rng.standard_normal(40)
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0], rel=1e-10)
    x = rng.standard_normal((100, 3)); y = x @ [1.0, -2.0, 0.5]
    assert ridge_probe(x[:50], y[:50], x[50:], y[50:])["pearson"] > 0.99
    assert kfold_ridge(x, y, folds=4)["pearson"] > 0.99

def reports(values, start=0):
    return [EvalReport([eval_row("t", "m", v, kind="transfer", n=10)], seed=start + i) for i, v in enumerate(values)]

def test_compare_interval_is_the_t_interval():
    vals = [0.61, 0.58, 0.66, 0.63]
    c = compare({"a": reports(vals), "single": reports([0.5])}).to_frame().set_index("run")
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
    assert c.loc["a", "ci_low"] == pytest.approx(lo, rel=1e-9) and c.loc["a", "ci_high"] == pytest.approx(hi, rel=1e-9)
    assert math.isnan(c.loc["single", "ci_low"]) and c.loc["single", "note"] == "one seed: no interval"
    assert t_interval([])[3] == 0

def test_delta_pairs_by_seed():
    a, b = reports([0.60, 0.70, 0.65]), reports([0.55, 0.66, 0.61])
    d = delta(a, b).iloc[0]
    diffs = np.array([0.05, 0.04, 0.04])
    lo, hi = stats.t.interval(0.95, 2, loc=diffs.mean(), scale=stats.sem(diffs))
    assert d.mean_delta == pytest.approx(diffs.mean()) and d.ci_low == pytest.approx(lo) and d.excludes_zero
    assert delta(a, reports([0.5], start=2)).iloc[0].n_pairs == 1      # only seed 2 is shared
    with pytest.raises(ValueError, match="share no seed"):
        delta(a, reports([0.5], start=9))
