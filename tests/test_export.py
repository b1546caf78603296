"Export round trip: the written directory loads in the installed sentence-transformers and encodes like carl_nb."
import json, os
import pytest, torch
from carl_nb.encoders import tiny_encoder, embed
from carl_nb.export import save_sentence_transformer, export_info

st = pytest.importorskip("sentence_transformers")
TEXTS = ["I love this.", "Terrible service, never again!", "ok", "so " * 300, "Ünïcode àccents — and emoji 🙂"]

@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

def round_trip(tok, enc, tmp_path, *, pooling, max_length, normalize=True):
    d = save_sentence_transformer(enc, tok, tmp_path / pooling, pooling=pooling, max_length=max_length,
                                  normalize=normalize, config_hash="h0")
    model = st.SentenceTransformer(str(d), local_files_only=True, device="cpu")
    got = torch.as_tensor(model.encode(TEXTS, batch_size=2, convert_to_numpy=True))
    want = embed(TEXTS, tok, enc, pooling=pooling, max_length=max_length, normalize=normalize)
    return d, model, got, want

@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_tiny_round_trip(tmp_path, pooling):
    tok, enc = tiny_encoder(seed=3)
    d, model, got, want = round_trip(tok, enc, tmp_path, pooling=pooling, max_length=48)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert model.max_seq_length == 48
    info = export_info(d)
    assert info["which"] == "query" and info["pooling"] == pooling and info["config_hash"] == "h0"

def test_layout_is_the_older_one(tmp_path):
    tok, enc = tiny_encoder()
    d = save_sentence_transformer(enc, tok, tmp_path / "x", pooling="cls", max_length=16)
    mods = json.loads((d / "modules.json").read_text())
    assert [m["path"] for m in mods] == ["", "1_Pooling", "2_Normalize"]
    assert all(m["type"].startswith("sentence_transformers.models.") for m in mods)
    pool = json.loads((d / "1_Pooling" / "config.json").read_text())
    assert set(pool) == {"word_embedding_dimension", "pooling_mode_cls_token", "pooling_mode_mean_tokens",
                         "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"}
    assert pool["pooling_mode_cls_token"] and not pool["pooling_mode_mean_tokens"]
    assert json.loads((d / "sentence_bert_config.json").read_text()) == {"max_seq_length": 16, "do_lower_case": False}
    version = json.loads((d / "config_sentence_transformers.json").read_text())["__version__"]
    assert version["sentence_transformers"] == "2.0.0"

def test_unnormalised_and_momentum(tmp_path):
    tok, enc = tiny_encoder()
    d, _, got, want = round_trip(tok, enc, tmp_path, pooling="mean", max_length=32, normalize=False)
    assert not (d / "2_Normalize").exists()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    save_sentence_transformer(enc, tok, d, which="momentum", overwrite=True)
    assert export_info(d)["which"] == "momentum"

def test_bad_arguments(tmp_path):
    tok, enc = tiny_encoder()
    d = save_sentence_transformer(enc, tok, tmp_path / "d", max_length=16)
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        save_sentence_transformer(enc, tok, d)
    for kw, msg in [(dict(pooling="max"), "pooling must be one of"), (dict(which="key"), "which must be one of"),
                    (dict(max_length=0), "max_length must be")]:
        with pytest.raises(ValueError, match=msg):
            save_sentence_transformer(enc, tok, tmp_path / "e", **kw)
    with pytest.raises(FileNotFoundError, match="carl_nb_export.json"):
        export_info(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]          # no temp dirs left behind

@pytest.mark.skipif(not os.environ.get("CARL_SLOW"), reason="slow: set CARL_SLOW=1 (writes and reloads MiniLM)")
def test_minilm_round_trip(tmp_path):
    from carl_nb.encoders import load_encoder
    tok, enc = load_encoder("minilm")
    for pooling in ("mean", "cls"):
        _, _, got, want = round_trip(tok, enc, tmp_path, pooling=pooling, max_length=128)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
