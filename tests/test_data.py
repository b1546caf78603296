"Data loaders on small fixtures in each corpus' schema, plus the bundled data, outside the notebooks."
import json, math
import numpy as np, pandas as pd, pytest
from carl_nb import data

def write(tmp_path, name, rows, fmt="jsonl"):
    p = tmp_path / f"{name}.{fmt}"
    if fmt == "jsonl": p.write_text("\n".join(json.dumps(r) for r in rows))
    elif fmt == "csv": pd.DataFrame(rows).to_csv(p, index=False)
    else: pd.DataFrame(rows).to_parquet(p)
    return str(p)

def test_vader_splits_partition_the_corpus_and_keep_the_domain_mix():
    dd = data.load_vader()
    frames = {k: v.to_pandas() for k, v in dd.items()}
    ids = pd.concat([f["id"] for f in frames.values()])
    assert len(ids) == 23_703 and ids.is_unique
    whole = pd.concat(frames.values())["domain"].value_counts(normalize=True)
    for f in frames.values():   # stratified: every split has the corpus' domain shares (within rounding)
        assert (f["domain"].value_counts(normalize=True) - whole).abs().max() < 0.002
    assert set(pd.concat(frames.values())["va_source"]) == {"human"}

def test_vader_lexicon_arousal_is_marked_and_counted():
    df = data.load_vader("test", lexicon_arousal=True).to_pandas()
    lex = df["arousal_source"] == "lexicon"
    assert lex.mean() > 0.9 and df.loc[lex, "arousal"].between(-1, 1).all()
    assert df.loc[~lex, "arousal"].isna().all() and (df.loc[~lex, "lexicon_coverage"] == 0).all()

def test_warriner_rescaled_range():
    w = data.load_warriner().to_pandas()
    assert len(w) == 13_915 and w[["valence", "arousal", "dominance"]].abs().max().max() <= 1

@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_polarity_corpus_in_every_file_format(tmp_path, fmt):
    f = write(tmp_path, "rt", [{"text": "great", "label": 1}, {"text": "awful", "label": 0}], fmt)
    ds = data.load_corpus("rotten_tomatoes", "train", data_files=f)
    assert list(ds["valence"]) == [1.0, -1.0] and list(ds["label"]) == ["positive", "negative"]

def test_goemotions_out_of_range_label_is_counted(tmp_path):
    f = write(tmp_path, "ge", [{"text": "a", "labels": [3], "id": "x"}, {"text": "b", "labels": [99], "id": "y"}, {"text": "c", "labels": [], "id": "z"}])
    with pytest.raises(ValueError, match="2 of 3 rows have an empty or out-of-range 'labels'"):
        data.load_corpus("go_emotions", data_files=f)

def test_emobank_nan_rating_is_counted(tmp_path):
    p = tmp_path / "eb.csv"; p.write_text("id,split,V,A,D,text\na,train,3,3,3,x\nb,train,,3,3,y\n")
    with pytest.raises(ValueError, match="1 of 2 rows have a NaN"):
        data.load_corpus("emobank", data_files=str(p))

def test_unknown_file_format(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        data.load_corpus("sst2", data_files=str(tmp_path / "x.txt"))

def test_lexicon_va_counts_instead_of_dropping():
    out = data.lexicon_va(["happy happy", "qwxz", "Happiness!"])
    assert len(out) == 3 and out.loc[1, "n_matched"] == 0 and math.isnan(out.loc[1, "valence"])
    assert out.loc[0, "coverage"] == 1.0
