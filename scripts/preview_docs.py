"""Build an HTML preview of the docs without Quarto (which needs a binary download).

nbdev's `proc_nbs` runs the same notebook processors as `nbdev_docs` (show_doc tables, hidden cells, exported-cell
handling) and writes the processed notebooks to `_proc/`; nbconvert then turns them and the tutorials into plain
HTML pages in `_preview/`. With `--screenshot`, headless Chromium renders each page to `_preview/<page>.png`.
Usage: python scripts/preview_docs.py [--screenshot] [page-name-substring ...]
"""
import subprocess, sys, shutil
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from nbdev.serve import proc_nbs

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_preview"

def main(argv):
    shot = "--screenshot" in argv; wanted = [a for a in argv[1:] if not a.startswith("--")]
    cache = proc_nbs(force=True, n_workers=0)
    pages = sorted(cache.glob("*.ipynb")) + sorted((ROOT / "tutorials").glob("[!_]*.ipynb"))
    if wanted: pages = [p for p in pages if any(w in p.name for w in wanted)]
    OUT.mkdir(exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}, remove_cell_tags={"remove_cell"}), True)
    for p in pages:
        nb = nbformat.read(p, as_version=4)
        for c in nb.cells:   # mimic what Quarto does with nbdev's directives
            if c.cell_type == "raw" and c.source.startswith("---"): c.metadata["tags"] = ["remove_cell"]
            elif "#| echo: false" in c.source: c.metadata["tags"] = ["remove_input"]
            if c.cell_type == "code":
                for o in c.get("outputs", []):
                    if "data" in o and "text/markdown" in o["data"]:
                        o["data"]["text/markdown"] = o["data"]["text/markdown"].replace('{target="_blank" style="float:right; font-size:smaller"}', "")
        body, _ = exporter.from_notebook_node(nb)
        html = OUT / (p.stem + ".html"); html.write_text(body, encoding="utf-8")
        print(f"{p.relative_to(ROOT)} -> {html.relative_to(ROOT)}")
        if shot:
            chrome = shutil.which("chromium") or shutil.which("chromium-browser")
            subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--hide-scrollbars", f"--user-data-dir={OUT/'.chrome'}", "--window-size=1200,2400",
                            f"--screenshot={OUT/(p.stem + '.png')}", html.as_uri()], check=True, capture_output=True, timeout=120)

if __name__ == "__main__": main(sys.argv)
