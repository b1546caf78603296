"""carl_nb.train and carl_nb.checkpoint: bit-for-bit resume after SIGKILL, each piece of state matters, atomic
checkpoints, refusals, the non-finite guard, early stopping, metrics files. CPU, seconds."""
import json, math, os, shutil, signal, subprocess, sys
from pathlib import Path

import pytest
import torch

import carl_nb.train as tr
from carl_nb.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from carl_nb.train import TrainData, load_run, lr_factor, train

sys.path.insert(0, str(Path(__file__).parent))
from _resume_worker import ToyModel, toy_config, toy_data  # noqa: E402

WORKER = Path(__file__).parent / "_resume_worker.py"
STEPS = 14   # 40 texts / batch 4 = 10 batches an epoch: the run crosses an epoch boundary


def run_worker(out_dir, *args):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, str(WORKER), str(out_dir), "--steps", str(STEPS), *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def assert_same_tensors(a, b, what):
    assert a.keys() == b.keys(), what
    for k in a:
        if torch.is_tensor(a[k]): assert torch.equal(a[k].nan_to_num(-9.), b[k].nan_to_num(-9.)), f"{what}: {k} differs"


def final_state(out_dir):
    ck = load_checkpoint(out_dir)
    assert ck.step == STEPS
    return ck


def assert_same_run(a, b):
    ca, cb = final_state(a), final_state(b)
    assert_same_tensors(ca["model"], cb["model"], "model")
    for (ka, sa), (kb, sb) in zip(ca["optimizer"]["state"].items(), cb["optimizer"]["state"].items()):
        assert_same_tensors(sa, sb, f"optimizer state {ka}")
    assert ca["sampler"] == cb["sampler"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "An uninterrupted run in a fresh process."
    out = tmp_path_factory.mktemp("ref")
    r = run_worker(out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


# ------------------------------------------------------------------ bit-for-bit resume after SIGKILL
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(reference, tmp_path):
    r = run_worker(tmp_path, "--kill-at", 7)        # dies after update 8; checkpoints at 3 and 6 exist
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    ck = load_checkpoint(tmp_path)
    assert ck.step == 6 and ck["sampler"] == {"epoch": 0, "position": 6}   # mid-epoch
    steps_logged = [json.loads(l)["step"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(1, 8))          # the killed process logged past its last checkpoint
    _in_process(tmp_path)                             # resume="auto" from the files alone (the killed process is gone)
    assert_same_run(reference, tmp_path)
    steps_logged = [json.loads(l)["step"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(1, STEPS + 1))  # each step once: lines after the checkpoint were dropped
    ref_rows = (reference / "metrics.jsonl").read_text().splitlines()
    res_rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(l).items() if k != "time_s"} for l in rows]
    assert strip(ref_rows) == strip(res_rows)         # the same losses, rates and grad norms at every step


def test_sigkill_between_temp_write_and_rename_keeps_previous_last(reference, tmp_path):
    r = run_worker(tmp_path, "--die-in-save", 6)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    ckpts = tmp_path / "checkpoints"
    assert (ckpts / "tmp-step-000006").is_dir()       # written, never renamed
    assert (ckpts / "last").read_text().strip() == "step-000003"
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000003"]
    assert load_checkpoint(tmp_path).step == 3
    _in_process(tmp_path)
    assert not any(p.name.startswith("tmp-") for p in ckpts.iterdir())
    assert_same_run(reference, tmp_path)


# ------------------------------------------------------------------ every piece of state matters
def _in_process(out_dir, *, max_steps=None, **kw):
    config = toy_config(steps=STEPS, **kw)
    return train(config, out_dir=out_dir, model=ToyModel(), data=toy_data(config), progress=False, max_steps=max_steps)


@pytest.fixture(scope="module")
def cut_at_5(tmp_path_factory):
    "A run stopped mid-epoch at step 5 (checkpointed at the end); each test resumes a copy of it."
    out = tmp_path_factory.mktemp("cut5")
    _in_process(out, max_steps=5)
    assert load_checkpoint(out).step == 5
    return out


@pytest.mark.parametrize("piece", [None, "optimizer", "scheduler", "rng", "sampler", "queue", "momentum"])
def test_leaving_out_one_piece_breaks_equality(reference, cut_at_5, tmp_path, monkeypatch, piece):
    shutil.copytree(cut_at_5, tmp_path, dirs_exist_ok=True)
    monkeypatch.setattr(tr, "_RESUME_SKIP", frozenset() if piece is None else frozenset({piece}))
    _in_process(tmp_path)
    a, b = final_state(reference)["model"], final_state(tmp_path)["model"]
    same = all(torch.equal(a[k].nan_to_num(-9.), b[k].nan_to_num(-9.)) for k in a)
    should = "not change" if piece is None else "change"
    assert same == (piece is None), f"dropping {piece!r} on resume should {should} the weights"


def test_resume_at_an_epoch_boundary(reference, tmp_path):
    _in_process(tmp_path, max_steps=10)               # 10 batches an epoch: the sampler is saved at its very end
    assert load_checkpoint(tmp_path)["sampler"] == {"epoch": 0, "position": 10}
    _in_process(tmp_path)
    assert_same_run(reference, tmp_path)


def test_in_process_uninterrupted_equals_subprocess(reference, tmp_path):
    _in_process(tmp_path)
    assert_same_run(reference, tmp_path)


# ------------------------------------------------------------------ refusals and clear errors
def test_refuses_a_run_dir_with_checkpoints_unless_resume(tmp_path):
    _in_process(tmp_path, max_steps=3)
    with pytest.raises(FileExistsError, match="already has checkpoints"):
        train(toy_config(), out_dir=tmp_path, resume="never", model=ToyModel(), data=toy_data(toy_config()),
              progress=False)
    with pytest.raises(FileNotFoundError, match="resume='must'"):
        train(toy_config(), out_dir=tmp_path / "empty", resume="must", model=ToyModel(), data=toy_data(toy_config()))
    with pytest.raises(ValueError, match="resume must be one of"):
        train(toy_config(), out_dir=tmp_path, resume="yes", model=ToyModel(), data=toy_data(toy_config()))


def test_config_hash_mismatch_on_resume(tmp_path):
    _in_process(tmp_path, max_steps=3)
    with pytest.raises(ValueError, match=r"config hash mismatch.*lr: 0\.01 -> 0\.02"):
        _in_process(tmp_path, lr=0.02)
    _in_process(tmp_path, max_steps=4, checkpoint_every=2)   # cadence is not part of the hash: resumes
    assert load_checkpoint(tmp_path).step == 4


class NaNAt(ToyModel):
    def losses(self, batch, *, step):
        out = super().losses(batch, step=step)
        if step == 2: out.losses["va"] = out.losses["va"] * float("nan")
        return out


def test_non_finite_guard_names_term_and_step(tmp_path):
    config = toy_config()
    m = NaNAt()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(FloatingPointError, match=r"loss term 'va' is nan at step 2"):
        train(config, out_dir=tmp_path, model=m, data=toy_data(config), progress=False)
    assert not all(torch.equal(before[k], v) for k, v in m.state_dict().items())   # steps 0, 1 trained ...
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2                                                         # ... step 2 never applied


def test_unknown_primary_metric_fails_before_training(tmp_path):
    config = toy_config(primary_metric="val_nope")
    with pytest.raises(ValueError, match="primary_metric='val_nope' is not a metric"):
        train(config, out_dir=tmp_path / "a", model=ToyModel(), data=toy_data(config), progress=False)
    config = toy_config(primary_metric="val_nope", eval_every=2)
    data = toy_data(config, evaluate=lambda m: {"val_score": 1.0})
    with pytest.raises(ValueError, match=r"primary_metric='val_nope'.*\['val_score'\]"):
        train(config, out_dir=tmp_path / "b", model=ToyModel(), data=data, progress=False)
    assert not list_checkpoints(tmp_path / "b")


# ------------------------------------------------------------------ evaluation, early stopping, files
def test_early_stopping_and_best_checkpoint(tmp_path):
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0])     # step 0, 2, 4, ...: best at step 2
    config = toy_config(eval_every=2, early_stopping_patience=2, primary_metric="val_score", checkpoint_every=0)
    data = toy_data(config, evaluate=lambda m: {"val_score": next(scores), "val_loss": 1.0})
    res = train(config, out_dir=tmp_path, model=ToyModel(), data=data, progress=False)
    assert res.stopped_early and res.step == 6 and res.best_step == 2 and res.best_metric == 0.5
    assert load_checkpoint(tmp_path, "best").step == 2
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000002", "step-000006"]
    h = res.to_frame()
    assert h.loc[h.step == 0, "val_score"].item() == 0.1 and h["val_score"].notna().sum() == 4
    again = train(config, out_dir=tmp_path, model=ToyModel(), data=data, progress=False)   # resume a stopped run
    assert again.step == 6 and again.stopped_early


def test_history_files_schedule_plot_and_load_run(tmp_path):
    config = toy_config(steps=8, warmup_steps=2)
    model = ToyModel()
    res = train(config, out_dir=tmp_path, model=model, data=toy_data(config), progress=False)
    h = res.to_frame()
    assert list(h.step) == list(range(1, 9))
    for c in ("loss", "loss_contrastive", "loss_perturbed", "loss_va", "w_perturbed", "lr", "lr_heads", "grad_norm",
              "mean_cos"):
        assert c in h.columns, c
    total = h.w_contrastive * h.loss_contrastive + h.w_perturbed * h.loss_perturbed + h.w_va * h.loss_va
    torch.testing.assert_close(torch.tensor(h.loss.to_numpy()), torch.tensor(total.to_numpy()), rtol=1e-5, atol=0)
    want = [config.lr * lr_factor(t, warmup_steps=2, total_steps=8) for t in range(8)]
    want = torch.tensor(want, dtype=torch.float64)
    torch.testing.assert_close(torch.tensor(h.lr.to_numpy()), want, rtol=1e-12, atol=0)
    import pandas as pd
    csv = pd.read_csv(tmp_path / "metrics.csv")
    assert len(csv) == 8 and (csv.loss.to_numpy() == h.loss.to_numpy()).all()
    fig, axes = res.plot()
    assert axes[0].get_legend() is not None and len(axes[0].lines) == 4
    assert "<script" not in res._repr_html_()
    assert (tmp_path / "config.yaml").read_text() == config.to_yaml()
    cfg, loaded = load_run(tmp_path, model=ToyModel())
    assert cfg == config
    assert_same_tensors(loaded.state_dict(), model.state_dict(), "load_run")


def test_param_groups_and_no_decay():
    groups = tr.param_groups(ToyModel(), lr=1e-5, head_lr=1e-3, weight_decay=0.1)
    names = {g["name"]: g for g in groups}
    assert set(names) == {"encoder", "encoder_no_decay", "heads", "heads_no_decay"}
    assert len(names["encoder"]["params"]) == 2          # embedding + linear weight (LayerNorm, biases: no decay)
    assert names["heads"]["lr"] == 1e-3 and names["encoder_no_decay"]["weight_decay"] == 0.0
    n_trainable = sum(len(g["params"]) for g in groups)
    assert n_trainable == sum(p.requires_grad for p in ToyModel().parameters())   # momentum copy excluded


def test_gradient_accumulation_would_change_the_gradient():
    "Why the trainer has no accumulation: InfoNCE over 2 half-batches has a different gradient than over the batch."
    from _resume_worker import info_nce
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, 16, generator=g, requires_grad=True), torch.randn(8, 16, generator=g)
    full, = torch.autograd.grad(info_nce(q, k, temperature=0.1), q)
    acc = sum(torch.autograd.grad(info_nce(q[s], k[s], temperature=0.1), q)[0] for s in (slice(0, 4), slice(4, 8))) / 2
    assert (full - acc).norm() / full.norm() > 0.1


def test_checkpoint_crash_at_pointer_write_keeps_previous_last(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, step=1, state={"a": torch.ones(1)})
    real = os.replace
    def crash_on_pointer(src, dst):
        if Path(src).name == "last.tmp": raise OSError("simulated crash")
        return real(src, dst)
    monkeypatch.setattr(os, "replace", crash_on_pointer)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(tmp_path, step=2, state={"a": torch.zeros(1)})
    monkeypatch.setattr(os, "replace", real)
    assert load_checkpoint(tmp_path).step == 1          # step-000002 is complete but `last` still names step 1
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000001", "step-000002"]


# ------------------------------------------------------------------ the real CarlModel on the tiny encoder
def _carl_parts(*, steps):
    "(config, CarlModel on the tiny encoder, TrainData) of a small CARL run, seeded the same way each call."
    pd = pytest.importorskip("pandas")
    from carl_nb.config import TrainConfig
    from carl_nb.core import seed_everything
    from carl_nb.encoders import tiny_encoder
    from carl_nb.model import CarlModel
    from carl_nb.train_data import UniqueTextBatchSampler, collate
    words = ["wonderful", "awful", "calm", "furious", "lovely", "boring", "thrilling", "sad"]
    frame = pd.DataFrame({"text": [f"a {w} day, number {i}" for i in range(3) for w in words]})
    va = torch.linspace(-0.9, 0.9, len(frame))
    frame = frame.assign(valence=va.numpy(), arousal=va.flip(0).numpy(), has_valence=True, has_arousal=True,
                         id=range(len(frame)), source="vader", is_word=False)
    rows = frame.to_dict("records")
    config = TrainConfig().replace(steps=steps, batch_size=8, max_length=12, queue_size=12, warmup_steps=1, lr=1e-3,
                                   eval_every=0, checkpoint_every=2, device="cpu", perturb="random")
    seed_everything(0)
    tok, enc = tiny_encoder(hidden_size=32, num_layers=1, max_position=16)   # the pipeline, not the capacity, is tested
    data = TrainData(sampler=UniqueTextBatchSampler(frame.text, batch_size=8, seed=0),
                     collate=lambda idx: collate([rows[i] for i in idx]))
    return config, CarlModel(config, tokenizer=tok, encoder=enc), data


def _carl_run(out_dir, *, steps=4, max_steps=None, resume="auto"):
    config, model, data = _carl_parts(steps=steps)
    res = train(config, out_dir=out_dir, model=model, data=data, progress=False, max_steps=max_steps, resume=resume)
    return res, model


def test_carl_model_resume_is_bit_for_bit(tmp_path):
    pytest.importorskip("carl_nb.model")
    ref, ref_model = _carl_run(tmp_path / "ref", steps=5)
    assert {"loss_contrastive", "loss_va"} <= set(ref.history.columns)
    _carl_run(tmp_path / "cut", steps=5, max_steps=3)            # 3 batches an epoch: stops at an epoch boundary
    res, model = _carl_run(tmp_path / "cut", steps=5, resume="must")
    assert res.step == 5
    a, b = ref_model.state_dict(), model.state_dict()
    assert any(k.startswith("queue.") for k in a) and any(k.startswith("momentum.key.") for k in a)
    for k in a: assert torch.equal(a[k].nan_to_num(-9.), b[k].nan_to_num(-9.)), k
    cfg, loaded = load_run(tmp_path / "cut", model=_carl_parts(steps=1)[1])     # a fresh, untrained model
    assert cfg.steps == 5 and all(torch.equal(loaded.state_dict()[k], b[k]) for k in b)


# ------------------------------------------------------------------ two processes through 🤗 Accelerate (gloo, CPU)
def test_two_process_accelerate_run_keeps_ranks_in_sync(tmp_path):
    pytest.importorskip("accelerate")
    # `accelerate launch --cpu` starts one process unless MPI is set up; torch's own launcher starts two (gloo),
    # and `train` picks up the process group through Accelerate as under `accelerate launch --multi_gpu`
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
           str(tmp_path), "--steps", "6"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "done rank 0/2 step 6" in r.stdout and "done rank 1/2 step 6" in r.stdout
    a, b = (torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in (0, 1))
    assert_same_tensors(a, b, "rank 0 vs rank 1")                      # gradients all-reduced, queue gathered
    assert len(a["queue.sample_ids"][a["queue.sample_ids"] >= 0]) == 12  # both ranks' keys: 6 steps x 2 x 2 rows, K=12
    assert load_checkpoint(tmp_path).step == 6 and len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 6


def test_train_reexports_its_parts_and_parts_do_not_import_train():
    import ast, inspect
    import carl_nb.train_parts as parts
    from carl_nb.train import TrainResult, lr_factor, make_optimizer, make_train_data, param_groups, weighted_loss
    assert (TrainResult, lr_factor, make_optimizer, param_groups, weighted_loss) == \
           (parts.TrainResult, parts.lr_factor, parts.make_optimizer, parts.param_groups, parts.weighted_loss)
    assert callable(make_train_data)
    tree = ast.parse(inspect.getsource(parts))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m == "carl_nb.train" or m.startswith("carl_nb.train.") for m in imported), imported
