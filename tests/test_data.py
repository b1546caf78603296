"Data loaders on small fixtures in each corpus' schema, plus the bundled data, outside the notebooks. No network."
import json
import math
import os
import socket
import urllib.error
import urllib.request
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")        # no test here needs the hub
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pandas as pd
import pytest
from carl_nb import corpora, data


def write(tmp_path, name, rows, fmt="jsonl"):
    p = tmp_path / f"{name}.{fmt}"
    if fmt == "jsonl":
        p.write_text("\n".join(json.dumps(r) for r in rows))
    elif fmt == "json":
        p.write_text(json.dumps(rows))
    elif fmt == "csv":
        pd.DataFrame(rows).to_csv(p, index=False)
    elif fmt == "tsv":
        pd.DataFrame(rows).to_csv(p, index=False, sep="\t")
    else:
        pd.DataFrame(rows).to_parquet(p)
    return str(p)


@pytest.fixture
def no_network(monkeypatch):
    "Every way to open a connection or resolve a host fails loudly: proves a code path makes no request."
    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a[:2]}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.MissingLabelWarning)
        return fn(*a, **k)


# --- VADER -----------------------------------------------------------------------------------------------------
def test_vader_splits_partition_the_corpus_and_keep_the_domain_mix():
    dd = data.load_vader()
    frames = {k: v.to_pandas() for k, v in dd.items()}
    ids = pd.concat([f["id"] for f in frames.values()])
    assert len(ids) == 23_703 and ids.is_unique
    whole = pd.concat(frames.values())["domain"].value_counts(normalize=True)
    for f in frames.values():   # stratified: the corpus' domain shares (within rounding and the 149 copies kept together)
        assert (f["domain"].value_counts(normalize=True) - whole).abs().max() < 0.003
    assert set(pd.concat(frames.values())["va_source"]) == {"human"}


def test_vader_repeated_texts_never_straddle_splits():
    dd = data.load_vader(seed=5)
    split_of = {}
    for name, ds in dd.items():
        for t in map(data.text_key, ds["text"]):
            assert split_of.setdefault(t, name) == name, f"{t!r} is in {split_of[t]} and {name}"
    assert len(split_of) == 23_703 - data.vader_stats()["repeated_rows"] == 23_703 - 149


def test_vader_html_entities_are_unescaped_by_default_and_counted():
    raw = data.load_vader(html_unescape=False)
    clean = data.load_vader()
    n_raw = sum(int(pd.Series(v["text"]).str.contains("&amp;|&quot;|&#39;|&lt;|&gt;").sum()) for v in raw.values())
    n_clean = sum(int(pd.Series(v["text"]).str.contains("&amp;|&quot;|&#39;").sum()) for v in clean.values())
    assert n_raw == data.vader_stats()["html_unescaped"] == 237 and n_clean == 0
    assert data.vader_stats(html_unescape=False)["html_unescaped"] == 0


@pytest.mark.parametrize("policy, n_rows, arousal_of_missing", [("nan", 23_703, "nan"), ("drop", 23_580, None),
                                                                 ("neutral", 23_703, 0.0)])
def test_vader_missing_arousal_policy_is_explicit_and_counted(policy, n_rows, arousal_of_missing):
    with pytest.warns(data.MissingLabelWarning, match=f"123 of 23703 .* missing_arousal='{policy}'"):
        dd = data.load_vader(lexicon_arousal=True, missing_arousal=policy)
    df = pd.concat([v.to_pandas() for v in dd.values()])
    assert len(df) == n_rows
    lex = df["arousal_source"] == "lexicon"
    assert (df["has_arousal"] == lex).all() and df.loc[lex, "arousal"].between(-1, 1).all()
    miss = df.loc[~lex, "arousal"]
    if arousal_of_missing is None:
        assert len(miss) == 0
    elif arousal_of_missing == "nan":
        assert len(miss) == 123 and miss.isna().all()
    else:
        assert len(miss) == 123 and (miss == arousal_of_missing).all()


def test_vader_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="missing_arousal must be one of"):
        data.load_vader(lexicon_arousal=True, missing_arousal="mean")
    with pytest.raises(ValueError, match="needs lexicon_arousal=True"):
        data.load_vader(missing_arousal="neutral")
    with pytest.raises(TypeError):
        data.load_vader("train", 0)   # options are keyword-only


def test_vader_lexicon_arousal_is_marked_and_counted():
    df = quiet(data.load_vader, "test", lexicon_arousal=True).to_pandas()
    lex = df["arousal_source"] == "lexicon"
    assert lex.mean() > 0.9 and df.loc[lex, "arousal"].between(-1, 1).all()
    assert df.loc[~lex, "arousal"].isna().all() and (df.loc[~lex, "lexicon_coverage"] == 0).all()


def test_warriner_rescaled_range():
    w = data.load_warriner().to_pandas()
    assert len(w) == 13_915 and w[["valence", "arousal", "dominance"]].abs().max().max() <= 1


def test_lexicon_va_counts_instead_of_dropping():
    out = data.lexicon_va(["happy happy", "qwxz", "Happiness!"])
    assert len(out) == 3 and out.loc[1, "n_matched"] == 0 and math.isnan(out.loc[1, "valence"])
    assert out.loc[0, "coverage"] == 1.0


def test_stratified_split_keys_keep_copies_together():
    keys = ["a", "b", "a", "c", "b", "a"] * 10
    s = data.stratified_split(["g"] * 60, seed=2, keys=keys)
    where = {i: k for k, idx in s.items() for i in idx}
    for key in set(keys):
        assert len({where[i] for i, k in enumerate(keys) if k == key}) == 1


# --- hub corpora from local files ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_polarity_corpus_in_every_file_format(tmp_path, fmt, no_network):
    f = write(tmp_path, "rt", [{"text": "great", "label": 1}, {"text": "awful", "label": 0}], fmt)
    ds = data.load_corpus("rotten_tomatoes", "train", data_files=f)
    assert list(ds["valence"]) == [1.0, -1.0] and list(ds["label"]) == ["positive", "negative"]


def test_data_files_as_datasets_accepts_them(tmp_path, no_network):
    a = write(tmp_path, "a", [{"text": "so happy", "label": 1}])
    b = write(tmp_path, "b", [{"text": "scared", "label": 4}])
    c = write(tmp_path, "c", [{"text": "furious", "label": 3}])
    assert list(data.load_corpus("dair_emotion", "train", data_files=[a, b])["label"]) == ["joy", "fear"]
    dd = data.load_corpus("dair_emotion", data_files={"train": [a, b], "test": c})
    assert {k: len(v) for k, v in dd.items()} == {"train": 2, "test": 1}
    assert len(data.load_corpus("dair_emotion", "train", data_files=str(tmp_path / "[ab].jsonl"))) == 2
    assert len(data.load_corpus("dair_emotion", "train", data_files=str(tmp_path))) == 3   # a directory
    assert len(data.load_corpus("dair_emotion", "train", data_files=(tmp_path / "a.jsonl",))) == 1   # PathLike


@pytest.mark.parametrize("bad, message", [
    (3, "data_files must be a path, a list of paths, or a dict"),
    ({"train": []}, "non-empty list of paths"),
    ({"": "x.jsonl"}, "split names must be non-empty strings"),
    (["x.jsonl", 7], "each entry must be a path"),
    ("https://example.org/a.csv", "is a URL"),
])
def test_data_files_wrong_shapes_say_what_is_expected(bad, message):
    with pytest.raises(ValueError, match=message):
        data.load_corpus("sst2", data_files=bad)


def test_data_files_missing_or_mixed(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file found"):
        data.load_corpus("sst2", data_files=str(tmp_path / "nope.jsonl"))
    a = write(tmp_path, "a", [{"sentence": "x", "label": 1}])
    b = write(tmp_path, "b", [{"sentence": "y", "label": 0}], "csv")
    with pytest.raises(ValueError, match="mixes formats"):
        data.load_corpus("sst2", data_files=[a, b])


def test_goemotions_out_of_range_label_is_counted(tmp_path):
    rows = [{"text": "a", "labels": [3], "id": "x"}, {"text": "b", "labels": [99], "id": "y"},
            {"text": "c", "labels": [], "id": "z"}]
    with pytest.raises(ValueError, match="2 of 3 rows have an empty or out-of-range 'labels'"):
        data.load_corpus("go_emotions", data_files=write(tmp_path, "ge", rows))


def test_emobank_nan_rating_is_counted(tmp_path):
    p = tmp_path / "eb.csv"
    p.write_text("id,split,V,A,D,text\na,train,3,3,3,x\nb,train,,3,3,y\n")
    with pytest.raises(ValueError, match="1 of 2 rows have a NaN"):
        data.load_corpus("emobank", data_files=str(p))


def test_unknown_file_format(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="cannot tell the format"):
        data.load_corpus("sst2", data_files=str(tmp_path / "x.txt"))


def test_local_loaders_make_no_network_request(tmp_path, no_network):
    data.load_vader("test")
    data.load_warriner()
    f = write(tmp_path, "ge", [{"text": "thanks", "labels": [15], "id": "1"}])
    assert list(data.load_corpus("go_emotions", "train", data_files=f)["label"]) == ["gratitude"]


# --- is the hub there? -----------------------------------------------------------------------------------------
class _Resp:
    def __init__(self, status): self.status = status
    def __enter__(self): return self
    def __exit__(self, *a): return False


def test_hub_available_offline_env_makes_no_request(monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("request made in offline mode"))
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
        monkeypatch.setenv(var, "1")
        assert corpora.hub_offline() and not corpora.hub_available()
    with pytest.raises(ConnectionError, match="Offline corpora: load_vader()"):
        data.load_corpus("go_emotions")


@pytest.mark.parametrize("answer, expected", [(200, True), (302, True), ("http407", False), ("ssl", False),
                                              ("timeout", False)])
def test_hub_available_needs_a_real_https_answer(monkeypatch, answer, expected):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    seen = {}

    def fake_urlopen(req, timeout):
        seen.update(method=req.get_method(), url=req.full_url, timeout=timeout)
        if answer == "http407":   # a proxy that answers instead of the hub
            raise urllib.error.HTTPError(req.full_url, 407, "Proxy Authentication Required", {}, None)
        if answer == "ssl":       # a proxy that accepts the TCP connection but cannot prove it is the hub
            raise urllib.error.URLError("CERTIFICATE_VERIFY_FAILED")
        if answer == "timeout":
            raise TimeoutError("timed out")
        return _Resp(answer)
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert corpora.hub_available(timeout=0.5) is expected
    assert seen == {"method": "HEAD", "url": corpora.HUB_API_URL, "timeout": 0.5}
    assert seen["url"].startswith("https://")
