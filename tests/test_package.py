"Packaging and import hygiene: the wheel carries the data, installs into a clean venv, and import opens no socket."
import subprocess, sys, zipfile, venv, os, textwrap, sysconfig
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "carl_nb").glob("*.py") if not p.stem.startswith("_"))

def test_import_opens_no_socket():
    code = textwrap.dedent(f"""
        import socket
        def refuse(*a, **k): raise AssertionError("network access at import time")
        socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse
        import importlib
        for m in {MODULES!r}: importlib.import_module("carl_nb." + m)
        import carl_nb.testing, carl_nb.losses
        print("ok")""")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]

@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    return next(dist.glob("carl_nb-*.whl"))

def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "carl_nb/data/vader_sentences.csv.gz" in names and "carl_nb/data/README.md" in names
    for m in MODULES: assert f"carl_nb/{m}.py" in names, m
    assert "carl_nb/testing/__init__.py" in names
    assert not any(n.startswith(("nbs/", "tests/", "tutorials/")) for n in names)

def test_wheel_installs_in_clean_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"; venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    # dependencies (torch, datasets, ...) come from the test environment's site-packages, appended *after*
    # the clean venv's own, so `carl_nb` itself can only be the freshly installed wheel
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = ("import carl_nb, carl_nb.data as d; assert str(carl_nb.__file__).startswith(%r), carl_nb.__file__; "
            "print(len(d.load_vader('test')), carl_nb.__version__)" % str(env_dir))
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "2368"  # test split: duplicate texts kept in one split
