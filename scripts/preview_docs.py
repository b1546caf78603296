"""Build the docs site's pages, check them in a real headless browser, or hand them to Quarto.

`_quarto.yml` (repository root) is the one site config. Its paths are relative to the site source folder `_proc/`,
which this script builds the way `nbdev_docs` does, plus the tutorials:
1. nbdev's processors (the ones `nbdev_docs`/`nbdev_proc_nbs` run: show_doc tables, hidden cells, frontmatter) turn
   every notebook under `nbs/` into `_proc/<same path>`; a notebook they fail on is reported and copied unprocessed,
   so the other pages still build. The tutorials are copied to `_proc/tutorials/`, their `../nbs/` links rewritten to
   the site layout; links to other repository files (`.py`, `.md`, `.yaml`, ...) become GitHub links (`git_url` in
   settings.ini), since the site holds only the pages. `_quarto.yml` is copied to `_proc/_quarto.yml` unchanged.
2. Site (needs Quarto): `--site` then runs `quarto render` in `_proc/` and moves `_proc/_docs` to `_docs/`
   (what `nbdev_docs` does); `--site --serve` runs `quarto preview` in `_proc/` instead (what `nbdev_preview` does).
3. Preview (no Quarto): nbconvert turns every page into HTML under `_preview/` (same folders); `.ipynb` links become
   `.html`, `{#id}` heading attributes become ids as in Quarto, and MathJax comes from Debian's `libjs-mathjax`.
   `--check` drives Debian's `chromium` with Playwright (`executable_path`, no `playwright install`) over each page and
   fails on: a page nbdev's processors could not build, a JavaScript error, a page without its H1, a formula MathJax
   could not render (or left as raw TeX), a broken internal link or anchor, an image that does not load, a page
   missing from (or a sidebar entry missing in) `_quarto.yml`, and a page whose `> ` subtitle is missing or over
   100 characters (aim for 40-80). `--screenshot` saves `_preview/shots/*.png`.
   `--only-check` reuses an existing `_preview/` (no rebuild). A notebook older than its page in `_proc/` is not
   processed again (as in `nbdev_preview`); `--force` rebuilds every page (after library changes: show_doc).
   `.ci/run` runs `--check --force` after pytest (about 2 minutes on 2 idle cores; it apt-installs `chromium` and
   `libjs-mathjax` when missing).

Keep it fast: nbdev's processors execute, in a page with exports, every exported cell, every `show_doc` cell and every
cell that holds an import. A cell that mixes imports with other code is executed whole: slow (a training demo runs
again) or failing (it uses names from cells that are not executed). Put imports in a cell of their own, and hoist
imports out of `def`/`with` blocks; the notes this script prints name the pages that still mix them.

Usage: python scripts/preview_docs.py [--check] [--screenshot] [--only-check] [--force] [page-name-substring ...]
       python scripts/preview_docs.py --site [--serve]
"""
from __future__ import annotations
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROC = ROOT / "_proc"
OUT = ROOT / "_preview"
MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
QUARTO_LINK_ATTRS = '{target="_blank" style="float:right; font-size:smaller"}'
LINK = re.compile(r'(?<!!)(\]\(|href=")([^)"\s]+)([)"])')   # markdown or HTML links, not images
EXTERNAL = re.compile(r"^(https?:|mailto:|data:|javascript:|#)")


def _settings() -> dict:
    from nbdev.config import get_config
    cfg = get_config()
    return {"git_url": cfg.git_url.rstrip("/"), "branch": cfg.branch, "nbs": cfg.nbs_path, "docs": cfg.doc_path}


def _site_path(repo_path: Path) -> Path | None:
    "Where a repository notebook lands on the site: nbs/X -> _proc/X, tutorials/X -> _proc/tutorials/X."
    for folder, site_folder in ((ROOT / "nbs", PROC), (ROOT / "tutorials", PROC / "tutorials")):
        if folder == repo_path or folder in repo_path.parents:
            return site_folder / repo_path.relative_to(folder)
    return None


def _site_link(target: str, src: Path, git: dict) -> str:
    "A link as it must read on the site: pages by the site layout, other repository files on GitHub."
    if EXTERNAL.match(target):
        return target
    path, hash_, anchor = target.partition("#")
    dest = (src.parent / path).resolve()
    if path.endswith(".ipynb"):
        here, there = _site_path(src), _site_path(dest)
        if here is None or there is None:
            return target
        return os.path.relpath(there, here.parent).replace(os.sep, "/") + hash_ + anchor
    if not dest.exists() or ROOT not in dest.parents:
        return target      # the check reports it
    kind = "tree" if dest.is_dir() else "blob"
    return f"{git['git_url']}/{kind}/{git['branch']}/{dest.relative_to(ROOT).as_posix()}{hash_}{anchor}"


def _fix_markdown_links(dst: Path, src: Path, git: dict) -> None:
    "Rewrite the links of a processed page's markdown cells for the site layout."
    nb = json.loads(dst.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            cell["source"] = LINK.sub(lambda m: m[1] + _site_link(m[2], src, git) + m[3], text)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


MIXED = "Found cells containing imports and other code"


def site_sources(problems: list[str], notes: list[str] | None = None, *, force: bool = True) -> Path:
    """Build `_proc/`: nbdev-processed pages, tutorials, `_quarto.yml`. Pages that fail are added to `problems`;
    slow pages and cells that nbdev's docs build executes because they mix imports with code go to `notes`.
    Without `force`, a page whose notebook is older than its processed copy is kept (as `nbdev_preview` does)."""
    import warnings
    from nbdev.doclinks import nbglob
    from nbdev.serve import _proc_file
    from nbdev.serve_drv import main as process_one
    notes = [] if notes is None else notes
    git = _settings()
    if force:
        shutil.rmtree(PROC, ignore_errors=True)
    PROC.mkdir(exist_ok=True)
    sources = nbglob(git["nbs"], func=Path, file_glob="", file_re="")
    for src in sources:
        job = _proc_file(src, PROC, git["nbs"])      # copies plain files; returns a job for a notebook
        if job is None:
            continue
        dst, t0 = job[1], time.time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                process_one(job)
            except Exception as e:       # one page mid-edit must not stop the others
                first = str(e).strip().split("\n")[0]
                cause = f" ({type(e.__cause__).__name__}: {str(e.__cause__)[:160]})" if e.__cause__ else ""
                problems.append(f"{src.relative_to(ROOT)}: nbdev's processors failed: {first}{cause}")
                shutil.copy2(src, dst)   # unprocessed, so links to it still resolve
                os.utime(dst, (0, 0))    # and processed again next time
            finally:
                os.environ.pop("IN_TEST", None)
        mixed = sum(MIXED in str(w.message) for w in caught)
        if mixed:
            notes.append(f"{src.relative_to(ROOT)}: {mixed} cell(s) mix imports with other code, so nbdev's docs "
                         "build executes them (put imports in a cell of their own)")
        if time.time() - t0 > 15:
            notes.append(f"{src.relative_to(ROOT)}: nbdev's processors took {time.time() - t0:.0f}s")
        mtime = dst.stat().st_mtime
        _fix_markdown_links(dst, src, git)
        os.utime(dst, (mtime, mtime))
    expected = {PROC / s.relative_to(git["nbs"]) for s in sources}
    for old in PROC.rglob("*.ipynb"):   # pages whose notebook is gone
        if old not in expected and "tutorials" not in old.relative_to(PROC).parts[:1]:
            old.unlink()
    shutil.rmtree(PROC / "tutorials", ignore_errors=True)
    tut = PROC / "tutorials"
    tut.mkdir()
    for src in sorted((ROOT / "tutorials").iterdir()):
        if src.name.startswith(("_", ".")) or not src.is_file():
            continue
        shutil.copy2(src, tut / src.name)
        if src.suffix == ".ipynb":
            _fix_markdown_links(tut / src.name, src, git)
    shutil.copy2(ROOT / "_quarto.yml", PROC / "_quarto.yml")
    return PROC


SUBTITLE_MAX = 100       # a page's `> ` subtitle is a short description (aim for 40-80 characters)


def page_subtitle(nb: dict) -> str | None:
    "The `> ` line right under a notebook's H1 (nbdev makes it the page description), or None."
    for cell in nb["cells"]:
        lines = "".join(cell["source"]).splitlines() if cell["cell_type"] == "markdown" else []
        for i, line in enumerate(lines):
            if line.startswith("# "):
                rest = [x for x in lines[i + 1:] if x.strip()]
                return rest[0][2:].strip() if rest and rest[0].startswith("> ") else None
    return None


def repo_pages() -> list[Path]:
    "Every notebook the site renders, as repository paths: nbs/**/*.ipynb and tutorials/*.ipynb."
    found = sorted((ROOT / "nbs").rglob("*.ipynb")) + sorted((ROOT / "tutorials").glob("*.ipynb"))
    return [p for p in found if not any(part.startswith(("_", ".")) for part in p.relative_to(ROOT).parts)]


def subtitle_problems(paths=None) -> list[str]:
    "Pages whose subtitle is missing or longer than `SUBTITLE_MAX` characters (default: every page)."
    problems = []
    for p in repo_pages() if paths is None else paths:
        sub = page_subtitle(json.loads(Path(p).read_text(encoding="utf-8")))
        p = Path(p).resolve().relative_to(ROOT) if ROOT in Path(p).resolve().parents else p
        if sub is None:
            problems.append(f"{p}: no `> ` subtitle under the H1")
        elif len(sub) > SUBTITLE_MAX:
            problems.append(f"{p}: subtitle of {len(sub)} characters (at most {SUBTITLE_MAX}, aim for 40-80)")
    return problems


def sidebar_entries() -> list[str]:
    "Every page entry (file or glob) of the sidebar in `_quarto.yml`, in order."
    import yaml
    listed = []

    def walk(items):
        for it in items:
            if isinstance(it, str):
                listed.append(it)
            elif "href" in it:
                listed.append(it["href"])
            if isinstance(it, dict) and "contents" in it:
                walk(it["contents"] if isinstance(it["contents"], list) else [it["contents"]])
    walk(yaml.safe_load((ROOT / "_quarto.yml").read_text())["website"]["sidebar"]["contents"])
    return listed


def sidebar_problems(cache: Path) -> list[str]:
    "Sidebar entries of `_quarto.yml` without a page, and pages that the sidebar does not list."
    listed = sidebar_entries()
    pages = {p.relative_to(cache).as_posix() for p in _pages(cache)}
    found = {hit.relative_to(cache).as_posix() for pat in listed for hit in cache.glob(pat)}
    return ([f"_quarto.yml: sidebar lists {pat!r}: no such page" for pat in listed if not list(cache.glob(pat))]
            + [f"{p}: not in the sidebar of _quarto.yml" for p in sorted(pages - found)])


def _pages(cache: Path) -> list[Path]:
    return [p for p in sorted(cache.rglob("*.ipynb"))
            if not any(part.startswith(("_", ".")) for part in p.relative_to(cache).parts)]


def _prepare(nb):
    "Mimic what Quarto does with nbdev's output: the frontmatter's title and description, hidden inputs."
    import nbformat
    import yaml
    for i, c in enumerate(nb.cells):
        if c.cell_type == "raw" and c.source.startswith("---"):
            meta = yaml.safe_load(c.source.strip().strip("-")) or {}
            head = f"# {meta.get('title', '')}" + (f"\n\n> {meta['description']}" if meta.get("description") else "")
            nb.cells[i] = nbformat.v4.new_markdown_cell(head if meta.get("title") else "")
            continue
        if "#| echo: false" in c.source:
            c.metadata["tags"] = ["remove_input"]
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            if "data" in o and "text/markdown" in o["data"]:
                o["data"]["text/markdown"] = o["data"]["text/markdown"].replace(QUARTO_LINK_ATTRS, "")
    return nb


# the heading's text may hold tags, but never the end of the heading: one heading per match
HEADING = re.compile(r'<h([1-6]) id="[^"]*">((?:(?!</h[1-6]>).)*?)\s*\{#([\w-]+)\}\s*<a class="anchor-link" href="#[^"]*">',
                     re.S)


def _heading_ids(html: str) -> str:
    "Pandoc-style `{#id}` heading attributes (Quarto's) become the heading's id, as Quarto renders them."
    return HEADING.sub(lambda m: f'<h{m[1]} id="{m[3]}">{m[2]}<a class="anchor-link" href="#{m[3]}">', html)


def build(wanted=(), problems=None, notes=None, *, force=False) -> list[Path]:
    "Write `_preview/**.html` for every page; return their paths."
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    problems = [] if problems is None else problems
    cache = site_sources(problems, notes, force=force)
    problems += sidebar_problems(cache) + subtitle_problems()
    pages = _pages(cache)
    if wanted:
        pages = [p for p in pages if any(w in p.name for w in wanted)]
    exporter = HTMLExporter(template_name="lab")
    if MATHJAX.exists():
        exporter.mathjax_url = MATHJAX.as_uri() + "?config=TeX-AMS_CHTML-full"
    tags = TagRemovePreprocessor(remove_input_tags={"remove_input"}, remove_cell_tags={"remove_cell"})
    exporter.register_preprocessor(tags, True)
    shutil.rmtree(OUT, ignore_errors=True)
    written = []
    for p in pages:
        body, _ = exporter.from_notebook_node(_prepare(nbformat.read(p, as_version=4)))
        body = re.sub(r'href="(?!https?:)([^"#]+)\.ipynb', r'href="\1.html', body)
        out = OUT / p.relative_to(cache).with_suffix(".html")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(_heading_ids(body), encoding="utf-8")
        written.append(out)
    for p in cache.rglob("*"):      # images and other files the pages load
        if p.is_file() and p.suffix not in (".ipynb", ".yml") and not p.name.startswith("."):
            (OUT / p.relative_to(cache)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, OUT / p.relative_to(cache))
    print(f"built {len(written)} pages into {OUT.relative_to(ROOT)}/")
    return written


PAGE_PROBE = """() => {
  const skip = el => el.closest('pre, code, script, style, .MathJax_Preview, .MathJax_CHTML, .mjx-chtml');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const rawTex = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (skip(n.parentElement)) continue;
    const t = n.textContent;
    if (/\\$\\$|\\\\(frac|sum|mathbf|mathcal|theta|lVert|log|begin)\\b/.test(t)) rawTex.push(t.trim().slice(0, 80));
  }
  const red = [...document.querySelectorAll('.mjx-chtml [style*="color: red"], .mjx-chtml .mjx-merror')];
  return {
    h1: document.querySelectorAll('h1').length,
    mathErrors: document.querySelectorAll('.MathJax_Error, .mjx-merror, .noError').length + red.length,
    mathFail: (window.__mathErrors || []).slice(0, 3),
    rawTex: rawTex.slice(0, 3),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    badImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
}"""
# MathJax 2 reports TeX errors as hub messages; collect them before the page's own config runs
MATH_HOOK = """window.__mathErrors = [];
window.MathJax = {AuthorInit: function () {
  MathJax.Hub.Register.MessageHook("TeX Jax - parse error", m => window.__mathErrors.push(String(m[1])));
  MathJax.Hub.Register.MessageHook("Math Processing Error", m => window.__mathErrors.push(String(m[2] || m[1])));
}};"""
MATH_DONE = """() => new Promise(done => {
  if (!window.MathJax || !MathJax.Hub || !MathJax.Hub.Queue) return done(false);
  MathJax.Hub.Queue(() => done(true));
})"""


def _link_problems(page: Path, links, ids_of) -> list[str]:
    problems = []
    for href in links:
        if EXTERNAL.match(href) and not href.startswith("#") or href == "#":
            continue
        target, _, anchor = href.partition("#")
        dest = page if not target else (page.parent / target).resolve()
        if not dest.exists():
            problems.append(f"broken link {href!r}")
        elif anchor and dest.suffix == ".html" and anchor not in ids_of(dest):
            problems.append(f"link {href!r}: no element with id {anchor!r}")
    return sorted(set(problems))


def check(pages: list[Path], screenshot: bool = False) -> list[str]:
    "Open every page in headless Chromium; return one line per problem."
    from playwright.sync_api import sync_playwright
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    if chrome is None:
        raise SystemExit("preview_docs --check needs Debian's chromium (apt-get install chromium)")
    problems, ids = [], {}
    shots = OUT / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chrome,
                                     args=["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.add_init_script(MATH_HOOK)
        js_errors = []  # filled by the listener while the current page loads
        page.on("pageerror", lambda e: js_errors.append(f"JavaScript error: {e}"))

        def ids_of(path: Path):
            if path not in ids:
                ids[path] = set(re.findall(r'id="([^"]+)"', path.read_text(encoding="utf-8")))
            return ids[path]

        for html in pages:
            js_errors.clear()
            page.goto(html.as_uri(), wait_until="load")
            rendered = page.evaluate(MATH_DONE)
            probe = page.evaluate(PAGE_PROBE)
            ids[html] = set(probe["ids"])
            rel = html.relative_to(OUT)
            errors = list(js_errors)
            if MATHJAX.exists() and not rendered:
                errors.append("MathJax did not load")
            if probe["h1"] < 1:
                errors.append("no H1")
            if probe["mathErrors"] or probe["mathFail"]:
                errors.append(f"{probe['mathErrors']} formula(s) MathJax could not render {probe['mathFail']}")
            errors += [f"raw TeX left in the page: {t!r}" for t in probe["rawTex"]]
            errors += [f"image does not load: {src}" for src in probe["badImages"]]
            errors += _link_problems(html, probe["links"], ids_of)
            problems += [f"{rel}: {e}" for e in errors]
            if screenshot:
                page.screenshot(path=str(shots / (str(rel.with_suffix("")).replace("/", "__") + ".png")))
        browser.close()
    return problems


def site(serve: bool) -> int:
    "Build `_proc/` and render (or preview) it with Quarto: the documented equivalent of nbdev_docs/nbdev_preview."
    problems = []
    cache = site_sources(problems)
    problems += sidebar_problems(cache)
    print("\n".join(problems) if problems else f"{cache.relative_to(ROOT)}/ ready for Quarto")
    if any("processors failed" in p for p in problems):
        return 1
    if shutil.which("quarto") is None:
        print("Quarto is not installed (https://quarto.org/docs/get-started/); then: cd _proc && quarto render")
        return 2
    if serve:
        return subprocess.run(["quarto", "preview"], cwd=cache).returncode
    rc = subprocess.run(["quarto", "render", "--no-cache"], cwd=cache).returncode
    if rc == 0:
        docs = _settings()["docs"]
        shutil.rmtree(docs, ignore_errors=True)
        shutil.move(str(cache / docs.name), str(docs))
        print(f"site written to {docs.relative_to(ROOT)}/")
    return rc


def main(argv) -> int:
    flags = {a for a in argv[1:] if a.startswith("--")}
    wanted = [a for a in argv[1:] if not a.startswith("--")]
    unknown = flags - {"--check", "--screenshot", "--only-check", "--force", "--site", "--serve"}
    if unknown:
        raise SystemExit(f"unknown option(s) {sorted(unknown)}; see the docstring of {Path(__file__).name}")
    if "--site" in flags:
        return site("--serve" in flags)
    t0 = time.time()
    problems, notes = [], []
    if "--only-check" in flags and OUT.exists():
        pages = [p for p in sorted(OUT.rglob("*.html")) if "shots" not in p.parts]
        pages = [p for p in pages if not wanted or any(w in p.name for w in wanted)]
        flags.add("--check")
    else:
        pages = build(wanted, problems, notes, force="--force" in flags)
    t1 = time.time()
    if flags & {"--check", "--screenshot"}:
        problems += check(pages, screenshot="--screenshot" in flags)
    print("\n".join(["notes (not failures):", *notes]) if notes else "")
    print("\n".join(problems) if problems else f"docs check: {len(pages)} pages passed")
    print(f"build {t1 - t0:.0f}s, browser check {time.time() - t1:.0f}s, {len(pages)} pages, {len(problems)} problems")
    return 1 if problems and "--check" in flags else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
