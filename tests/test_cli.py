"The `carl` command end to end on a tiny encoder saved as a local directory: train, eval, embed, export, compare."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
from carl_nb.cli import main, build_parser

TINY_RUN = ["--set", "steps=2", "--set", "batch_size=8", "--set", "queue_size=16", "--set", "max_length=24",
            "--set", "eval_every=0", "--set", "checkpoint_every=2", "--set", "device=cpu", "--set", "trainable_layers=-1",
            "--quiet"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from carl_nb.encoders import tiny_encoder
    d = tmp_path_factory.mktemp("tiny")
    tok, model = tiny_encoder(hidden_size=32, num_layers=1)
    tok.save_pretrained(d)
    model.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def run(tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny-carl-seed0"
    assert main(["train", "--out", str(out), "--set", f"encoder={tiny_dir}", *TINY_RUN]) == 0
    return out


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("train", "eval", "embed", "export", "compare"):
        assert cmd in text


def test_console_script_is_installed():
    out = subprocess.run([Path(sys.executable).with_name("carl"), "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--preset" in out.stdout and "cpu-quick" in out.stdout


def test_train_writes_a_run(run):
    assert (run / "config.yaml").exists() and (run / "metrics.csv").exists()
    assert (run / "checkpoints" / "last").exists()


def test_train_refuses_to_overwrite(run, tiny_dir, capsys):
    assert main(["train", "--out", str(run), "--set", f"encoder={tiny_dir}", *TINY_RUN]) == 2
    assert "carl: error:" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--set", "no_such_field=1"], "no_such_field"),
    (["train", "--set", "w_ptd=-1"], "w_ptd"),
    (["train", "--set", "lr"], "key=value"),
    (["train", "--config", "/no/such.yaml"], "no such file"),
    (["eval", "/no/such/run"], "does not exist"),
    (["compare", "/no/such/run"], "does not exist"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("carl: error:") and message in err, err


def test_unknown_preset_is_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--preset", "huge"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_partial_yaml_overrides_only_its_fields(tmp_path):
    from carl_nb.cli import config_from_args
    from carl_nb.config import preset
    y = tmp_path / "c.yaml"
    y.write_text("bandwidth: 0.3\n")
    args = build_parser().parse_args(["train", "--config", str(y), "--set", "steps=7"])
    cfg = config_from_args(args)
    base = preset("cpu-quick")
    assert cfg.bandwidth == 0.3 and cfg.steps == 7 and cfg.batch_size == base.batch_size


def test_eval_embed_export_compare(run, tmp_path, capsys):
    assert main(["eval", str(run), "--suite", "quick", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "frozen encoder" in printed and "change" in printed
    assert (run / "eval-quick.json").exists()
    texts = tmp_path / "t.txt"
    texts.write_text("what a lovely day\nthis is awful\n")
    emb = tmp_path / "e.npy"
    assert main(["embed", "--model", str(run), "--in", str(texts), "--out", str(emb)]) == 0
    z = np.load(emb)
    assert z.shape[0] == 2 and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    st = tmp_path / "st"
    assert main(["export", str(run), "--to", str(st)]) == 0
    assert (st / "modules.json").exists()
    info = json.loads((st / "carl_nb_export.json").read_text())
    assert info["which"] == "query"
    # compare reads eval.json: give the run one (the quick report under the offline name) and compare it with itself
    (run / "eval.json").write_text((run / "eval-quick.json").read_text())
    assert main(["compare", str(run)]) == 0
    assert "tiny-carl" in capsys.readouterr().out
