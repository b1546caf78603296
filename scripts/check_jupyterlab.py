"""Check that the sentence explorer (carl_nb.explorer) renders and reacts in a real JupyterLab.

Starts `jupyter lab --no-browser` on a free port with a random token, opens a small notebook that builds two tiny
CarlModels and `explorer(before, after)` in headless Chromium (Debian's /usr/bin/chromium through Playwright; no
`playwright install`), runs all cells, waits for the widget's DOM, changes the dropdown and then the text box and
waits for the readout to follow each change, saves a screenshot and exits 0 (pass) or 1 (fail).

    python scripts/check_jupyterlab.py [--chromium /usr/bin/chromium] [--screenshot /tmp/carl_explorer_lab.png]

Needs `pip install jupyterlab` in the environment (not a package requirement). A documented check, not CI.
"""
from __future__ import annotations
import argparse, json, os, secrets, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

SETUP = """import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from carl_nb.config import TrainConfig
from carl_nb.encoders import tiny_encoder
from carl_nb.model import CarlModel
from carl_nb.explorer import explorer, EXAMPLES
cfg = TrainConfig().replace(max_length=24, queue_size=16, device="cpu")
models = []
for seed in (0, 1):
    tok, enc = tiny_encoder(hidden_size=32, num_layers=1, seed=seed)
    models.append(CarlModel(cfg, tokenizer=tok, encoder=enc))
before, after = models"""
SHOW = "box = explorer(before, after)\nbox"


def notebook(path:Path):
    cells = [dict(cell_type="code", id=f"c{i:07d}", metadata={}, execution_count=None, outputs=[], source=src)
             for i, src in enumerate([SETUP, SHOW])]
    meta = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}}
    path.write_text(json.dumps(dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5), indent=1))


def free_port()->int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url:str, proc, timeout:float=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2): return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout} s")


def readout(page)->str:
    return page.locator(".widget-html-content").first.inner_text()


def check(page, base:str, shot:str, log):
    from carl_nb.explorer import EXAMPLES
    page.goto(f"{base}/lab/tree/explorer_check.ipynb")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_timeout(3000)  # let the kernel session attach
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).first.click()
    log("run all cells")
    page.wait_for_selector(".widget-dropdown select", timeout=240_000)
    page.wait_for_selector("img.widget-image[src^='blob:'], img.widget-image[src^='data:']", timeout=120_000)
    src0 = page.locator("img.widget-image").first.get_attribute("src")
    first = readout(page)
    assert "SentenceExplanation" in first and EXAMPLES[0] in first, f"first readout: {first[:200]!r}"
    log(f"widget rendered: {page.locator('.jupyter-widgets').count()} widget elements, readout and figure shown")
    page.select_option(".widget-dropdown select", label=EXAMPLES[3])
    page.wait_for_function("t => [...document.querySelectorAll('.widget-html-content')].some(e => "
                           "e.innerText.includes(t))", arg=EXAMPLES[3], timeout=120_000)
    assert page.locator(".widget-text input").first.input_value() == EXAMPLES[3]
    page.wait_for_function("s => document.querySelector('img.widget-image').src !== s", arg=src0, timeout=60_000)
    log("dropdown change: text box, readout and figure followed")
    typed = "Such a calm, lovely morning."
    box = page.locator(".widget-text input").first
    box.fill(typed)
    box.press("Enter")
    page.wait_for_function("t => [...document.querySelectorAll('.widget-html-content')].some(e => "
                           "e.innerText.includes(t))", arg=typed, timeout=120_000)
    log("typed sentence: readout followed")
    page.wait_for_timeout(1500)  # let the redrawn figure arrive before the screenshot
    page.screenshot(path=shot, full_page=True)
    log(f"screenshot: {shot}")


def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--screenshot", default="/tmp/carl_explorer_jupyterlab.png")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    root, port, token = Path(tempfile.mkdtemp(prefix="carl-lab-")), free_port(), secrets.token_hex(16)
    notebook(root / "explorer_check.ipynb")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               JUPYTER_CONFIG_DIR=str(root / ".jupyter-config"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0: cmd.append("--allow-root")  # containers run as root
    log_file = open(root / "jupyter.log", "w")
    server = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=root)
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.1f} s] {msg}", flush=True)
    ok = False
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        log(f"jupyter lab up on port {port}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
            ctx = browser.new_context(viewport={"width": 1500, "height": 1400})
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{port}/lab?token={token}")
            try:
                check(page, f"http://127.0.0.1:{port}", args.screenshot, log)
                ok = True
            except Exception as e:  # report, keep a screenshot of the failure, exit 1
                shot = args.screenshot.replace(".png", "-failed.png")
                page.screenshot(path=shot, full_page=True)
                log(f"FAILED: {type(e).__name__}: {str(e)[:500]} (screenshot {shot}, server log {root}/jupyter.log)")
            browser.close()
    finally:
        server.terminate()
        try: server.wait(timeout=20)
        except subprocess.TimeoutExpired: server.kill()
        log_file.close()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
