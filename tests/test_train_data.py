"CARL's training data outside the notebook: the split contract, no leakage, unique batches and exact resume."
import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
import pytest
import torch
from carl_nb.data import VADER_DOMAINS, text_key
from carl_nb.train_data import (COLUMNS, HELDOUT_DOMAIN, SPLIT_NAMES, CarlSplits, TrainMix, UniqueTextBatchSampler,
                                carl_splits, collate)

HELD_OUT = ("validation", "test", "heldout_domain", "heldout_words")


@pytest.fixture(scope="module")
def splits():
    return carl_splits()


def keys_of(frame):
    return set(frame["key"])


def test_contract_columns_and_labels(splits):
    assert HELDOUT_DOMAIN == "amazon_reviews" and splits.heldout_domain_name == HELDOUT_DOMAIN
    for name, f in splits.frames().items():
        assert list(f.columns) == COLUMNS, name
        assert f[["valence", "arousal"]].notna().all().all(), f"{name}: a missing label must be 0.0, not NaN"
        assert f[["valence", "arousal"]].abs().max().max() <= 1
        assert f["has_valence"].dtype == bool and f["has_arousal"].dtype == bool
        assert (f.loc[~f["has_arousal"], "arousal"] == 0.0).all()
        assert set(f["source"]) <= {"vader", "warriner"}
        assert ((f["arousal_source"] == "none") == ~f["has_arousal"]).all()
    for name in ("train_sentences", "validation", "test", "heldout_domain"):
        f = getattr(splits, name)
        assert set(f["source"]) == {"vader"} and set(f["arousal_source"]) == {"lexicon", "none"}
    for name in ("train_words", "heldout_words"):
        f = getattr(splits, name)
        assert set(f["source"]) == {"warriner"} and set(f["arousal_source"]) == {"human"} and f["has_arousal"].all()


def test_heldout_domain_is_whole_and_never_in_domain(splits):
    assert set(splits.heldout_domain["domain"]) == {HELDOUT_DOMAIN} and len(splits.heldout_domain) == 3_708
    for name in ("train_sentences", "validation", "test"):
        assert HELDOUT_DOMAIN not in set(getattr(splits, name)["domain"])
    n_vader = sum(len(getattr(splits, n)) for n in ("train_sentences", "validation", "test", "heldout_domain"))
    assert n_vader + sum(splits.removed.get(n, 0) for n in ("train_sentences", "validation", "test")) == 23_703


def test_every_key_sits_in_one_frame_only(splits):
    keys = {name: keys_of(f) for name, f in splits.frames().items()}
    for i, a in enumerate(SPLIT_NAMES):
        for b in SPLIT_NAMES[i + 1:]:
            assert not keys[a] & keys[b], f"{a} and {b} share {sorted(keys[a] & keys[b])[:3]}"


def test_no_heldout_text_in_the_train_pool_even_at_the_largest_word_share(splits):
    pool = TrainMix(splits, word_fraction=0.4, seed=3)
    held = set().union(*(keys_of(getattr(splits, n)) for n in HELD_OUT))
    assert not set(map(text_key, pool.texts)) & held
    assert not set(pool.texts) & set().union(*(set(getattr(splits, n)["text"]) for n in HELD_OUT))


def test_ids_unique_over_all_frames_and_stable_across_seeds(splits):
    ids = np.concatenate([f["id"].to_numpy() for f in splits.frames().values()])
    assert len(ids) == len(set(ids.tolist()))
    other = carl_splits(seed=1, heldout_domain="tweets")
    a = {r.source_id: r.id for f in splits.frames().values() for r in f.itertuples()}
    b = {r.source_id: r.id for f in other.frames().values() for r in f.itertuples()}
    common = set(a) & set(b)
    assert len(common) > 30_000 and all(a[k] == b[k] for k in common)


def test_word_holdout_is_seeded_and_a_fifth(splits):
    n = splits.train_words["key"].nunique() + splits.heldout_words["key"].nunique()
    assert abs(splits.heldout_words["key"].nunique() - 0.2 * n) <= 1
    again = carl_splits(seed=0)
    assert list(again.heldout_words["text"]) == list(splits.heldout_words["text"])
    assert set(carl_splits(seed=2).heldout_words["text"]) != set(splits.heldout_words["text"])


@pytest.mark.parametrize("domain", VADER_DOMAINS)
def test_any_domain_can_be_held_out(domain):
    s = carl_splits(heldout_domain=domain, heldout_word_fraction=0.0)
    assert set(s.heldout_domain["domain"]) == {domain} and len(s.heldout_words) == 0
    assert domain not in set(s.train_sentences["domain"])


def test_bad_options_name_the_argument(splits):
    with pytest.raises(ValueError, match="heldout_domain must be one of"):
        carl_splits(heldout_domain="reviews")
    with pytest.raises(ValueError, match="heldout_word_fraction"):
        carl_splits(heldout_word_fraction=-0.1)
    with pytest.raises(ValueError, match="word_fraction must be"):
        TrainMix(splits, word_fraction=1.0)
    with pytest.raises(ValueError, match="splits must be a CarlSplits"):
        TrainMix({"train": None})
    with pytest.raises(TypeError):
        carl_splits("tweets")   # options are keyword-only


def test_summary_counts_and_escaped_html(splits):
    t = splits.to_frame()
    assert list(t.index) == list(SPLIT_NAMES)
    for name, f in splits.frames().items():
        assert t.loc[name, "rows"] == len(f)
        assert t.loc[name, "arousal_human"] + t.loc[name, "arousal_lexicon"] + t.loc[name, "arousal_none"] == len(f)
    assert t.loc["train_words", "trained_on"] and not t.loc["heldout_words", "trained_on"]
    evil = CarlSplits(*splits.frames().values(), heldout_domain_name="<img src=x onerror=alert(1)>")
    assert "<img" not in evil._repr_html_() and "&lt;img" in evil._repr_html_()


def test_train_mix_share_and_seed(splits):
    for f in (0.1, 0.25):
        mix = TrainMix(splits, word_fraction=f, seed=0)
        assert abs(mix.frame["is_word"].mean() - f) < 1e-3
        assert (mix.frame["is_word"] == (mix.frame["source"] == "warriner")).all()
    a, b = TrainMix(splits, word_fraction=0.1, seed=0), TrainMix(splits, word_fraction=0.1, seed=1)
    assert a.texts == TrainMix(splits, word_fraction=0.1, seed=0).texts and a.texts != b.texts
    with pytest.raises(ValueError, match="at most 0.4"):
        TrainMix(splits, word_fraction=0.5)


def test_collate_shapes_dtypes_and_errors(splits):
    mix = TrainMix(splits, word_fraction=0.2)
    rows = mix.rows(range(len(mix) - 3, len(mix))) + mix.rows([0])   # three words, one sentence
    b = collate(rows)
    assert b["va"].shape == (4, 2) and b["va"].dtype == torch.float32
    assert b["has_va"].dtype == torch.bool and b["ids"].dtype == torch.long and b["ids"].shape == (4,)
    assert b["is_word"].tolist() == [True, True, True, False]
    torch.testing.assert_close(b["va"][0], torch.tensor([rows[0]["valence"], rows[0]["arousal"]], dtype=torch.float32))
    assert b["has_va"][:3].all()
    with pytest.raises(ValueError, match="rows is empty"):
        collate([])
    with pytest.raises(ValueError, match=r"rows\[0\] lacks \['id'\]"):
        collate([{k: v for k, v in rows[0].items() if k != "id"}])
    with pytest.raises(ValueError, match="non-finite or out-of"):
        collate([{**rows[0], "valence": 2.0}])


def test_sampler_batches_never_repeat_a_text(splits):
    mix = TrainMix(splits, word_fraction=0.2)
    s = mix.sampler(batch_size=128, seed=4)
    for epoch in range(2):
        seen = set()
        for batch in s:
            keys = [text_key(mix.texts[i]) for i in batch]
            assert len(batch) == 128 and len(set(keys)) == 128
            assert not seen & set(keys)
            seen |= set(keys)
        assert len(seen) == len(s) * 128 and s.epoch == epoch + 1


@pytest.mark.parametrize("cut", [0, 1, 5, 11, 12, 13, 30])
def test_resume_mid_epoch_equals_uninterrupted(cut):
    texts = [f"text {i % 50}" for i in range(57)] + ["TEXT 3", "Text  4"]   # duplicates and case variants
    ref = UniqueTextBatchSampler(texts, batch_size=4, seed=11)
    assert len(ref) == 12
    uninterrupted = [b for _, b in zip(range(40), ref.stream())]
    first = UniqueTextBatchSampler(texts, batch_size=4, seed=11)
    head = [b for _, b in zip(range(cut), first.stream())]
    state = first.state_dict()
    resumed = UniqueTextBatchSampler(texts, batch_size=4, seed=11)
    resumed.load_state_dict(state)
    assert head + [b for _, b in zip(range(40 - cut), resumed.stream())] == uninterrupted


def test_state_is_validated_before_anything_is_written():
    s = UniqueTextBatchSampler([str(i) for i in range(20)], batch_size=3, seed=0)
    next(iter(s))
    before = s.state_dict()
    bad_states = [({**before, "fingerprint": "x"}, "fingerprint"), ({**before, "batch_size": 4}, "batch_size"),
                  ({**before, "position": 7}, "exceeds the 6 batches"), ({**before, "epoch": -1}, "epoch"),
                  ({"epoch": 0}, "state lacks"), ([1, 2], "must be a dict")]
    for bad, message in bad_states:
        with pytest.raises(ValueError, match=message):
            s.load_state_dict(bad)
        assert s.state_dict() == before
    other = UniqueTextBatchSampler([str(i) for i in range(19)] + ["x"], batch_size=3, seed=0)
    with pytest.raises(ValueError, match="fingerprint"):
        other.load_state_dict(before)


def test_set_epoch_and_orders():
    s = UniqueTextBatchSampler([str(i) for i in range(10)], batch_size=3, seed=5, drop_last=False)
    assert len(s) == 4 and [len(b) for b in s] == [3, 3, 3, 1]
    s.set_epoch(3)
    e3 = list(s)
    assert e3 == [o.tolist() for o in np.array_split(s.epoch_order(3), [3, 6, 9])]
    assert s.epoch_order(3).tolist() != s.epoch_order(4).tolist()
    assert sorted(s.epoch_order(4).tolist()) == list(range(10))
    with pytest.raises(ValueError, match="epoch must be an int"):
        s.set_epoch(-2)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        UniqueTextBatchSampler(["a", "b"], batch_size=0, seed=0)


def test_carl_splits_makes_no_network_request(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    for target, name in ((socket.socket, "connect"), (socket, "getaddrinfo"), (socket, "create_connection")):
        monkeypatch.setattr(target, name, refuse)
    s = carl_splits(seed=7)
    b = collate(TrainMix(s, word_fraction=0.1).rows(range(8)))
    assert b["va"].shape == (8, 2)
