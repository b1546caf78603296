"""Candidate fixes of the CARL step's fixed per-step costs, as monkeypatches for a before/after measurement in one
process (`python bench/bench_step.py --section fixes`). Results: BENCHMARKS.md. The library is not changed here:
each fix names the notebook where it would go.

* `blocked_ids` (nbs/31_perturb.ipynb): `perturb(strategy="random")` calls it every step, and it walks the whole
  vocabulary (`tokenizer.get_vocab()` builds a 30k-entry dict, then a regex per entry). Fix: memoise per tokenizer
  (keyed on the tokenizer object, its length and the extra ids).
* `selected_word_valence` (nbs/55_step.ipynb): the `saliency_valence_ratio` log indexes tensors one token at a time
  (`offsets[b, t, 0]`, `selected[b, t]`: thousands of `aten::select` calls per step). Fix: `.tolist()` the offsets,
  word ids and selection once, then the same Python loop over plain lists (same result, checked below).
"""
import contextlib
import torch

import carl_nb.perturb as carl_perturb
import carl_nb.step as carl_step
from carl_nb.tokens import word_ids_from_offsets

_ORIG = {"blocked_ids": carl_perturb.blocked_ids, "selected_word_valence": carl_step.selected_word_valence}
_CACHE = {}


def blocked_ids_cached(tokenizer, extra=None):
    "`carl_nb.perturb.blocked_ids`, memoised on (tokenizer, its length, extra ids)."
    key = (id(tokenizer), len(tokenizer), tuple(sorted(int(i) for i in (extra or []))))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not tokenizer:
        hit = _CACHE[key] = (tokenizer, _ORIG["blocked_ids"](tokenizer, extra))
    return list(hit[1])


def selected_word_valence_lists(texts, offsets, special, selected):
    "`carl_nb.step.selected_word_valence` on plain lists: the same loop without per-element tensor indexing."
    wid = word_ids_from_offsets(offsets, special, texts).tolist()
    off, sel_l = offsets.tolist(), selected.bool().tolist()
    sel, other = [], []
    for b, text in enumerate(texts):
        spans = {}
        for t, w in enumerate(wid[b]):
            if w < 0: continue
            s, e = off[b][t]
            lo, hi, picked = spans.get(w, (s, e, False))
            spans[w] = (min(lo, s), max(hi, e), picked or sel_l[b][t])
        for lo, hi, picked in spans.values():
            v = carl_step.word_valence(text[lo:hi])
            if v is not None: (sel if picked else other).append(abs(v))
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    return mean(sel), mean(other)


FIXES = {"blocked_ids": (carl_perturb, blocked_ids_cached),
         "selected_word_valence": (carl_step, selected_word_valence_lists)}


@contextlib.contextmanager
def patched(names=tuple(FIXES)):
    "Apply the named fixes for the duration of the block."
    for n in names: setattr(FIXES[n][0], n, FIXES[n][1])
    try: yield
    finally:
        for n in names: setattr(FIXES[n][0], n, _ORIG[n])


def check_same(tokenizer, texts, enc, special, selected):
    "The fixed functions return what the originals return (raises AssertionError otherwise)."
    assert blocked_ids_cached(tokenizer, [1, 2]) == _ORIG["blocked_ids"](tokenizer, [1, 2])
    a = _ORIG["selected_word_valence"](texts, enc["offset_mapping"], special, selected)
    b = selected_word_valence_lists(texts, enc["offset_mapping"], special, selected)
    assert all((x == y) or (x != x and y != y) for x, y in zip(a, b)), (a, b)
    return True
