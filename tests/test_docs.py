"Cheap checks of the docs plumbing: README in sync with nbs/index.ipynb, the sidebar of _quarto.yml, link rewriting."
import importlib.util
import json
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
# pages the sidebar already lists while their owners write them; a test below says when one arrives
COMING = set()   # sidebar entries whose notebook is being written (none now)


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _sidebar_pages():
    return _script("preview_docs").sidebar_entries()


def _repo_pages():
    "Site paths (relative to _proc/) of every notebook the site renders."
    nbs = [p.relative_to(ROOT / "nbs").as_posix() for p in (ROOT / "nbs").rglob("*.ipynb")]
    tuts = [f"tutorials/{p.name}" for p in (ROOT / "tutorials").glob("*.ipynb")]
    return {p for p in nbs + tuts if not any(part.startswith(("_", ".")) for part in p.split("/"))}


def test_readme_is_generated_from_index():
    sync = _script("sync_readme")
    assert sync.render(json.loads(sync.SOURCE.read_text())) == sync.README.read_text(), \
        "README.md is out of date: run python scripts/sync_readme.py"


def test_sync_readme_rewrites_links_and_keeps_short_outputs():
    sync = _script("sync_readme")
    nb = {"cells": [
        {"cell_type": "markdown",
         "source": "# T\n> sub\n\nsee [lic](../LICENSE), [core](00_core.ipynb#x), [w](https://a.b)"},
        {"cell_type": "code", "source": "#| hide\nsecret = 1", "outputs": []},
        {"cell_type": "code", "source": "print(2)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "2\n"},
            {"output_type": "stream", "name": "stderr", "text": "progress bar\n"}]},
    ]}
    text = sync.render(nb)
    assert "[lic](LICENSE)" in text and "[core](nbs/00_core.ipynb#x)" in text and "(https://a.b)" in text
    assert "secret" not in text and "progress bar" not in text
    assert "```python\nprint(2)\n```\n\n```\n2\n```" in text
    assert text.startswith("# T\n\n" + sync.NOTE)


def test_every_page_is_in_the_sidebar_and_every_entry_exists():
    listed = _sidebar_pages()
    assert len(listed) == len(set(listed)), "a page is listed twice"
    pages = _repo_pages()
    assert not pages - set(listed), f"pages missing from the sidebar of _quarto.yml: {sorted(pages - set(listed))}"
    missing = set(listed) - pages
    assert missing <= COMING, f"sidebar entries without a notebook: {sorted(missing - COMING)}"
    arrived = COMING & pages
    assert not arrived, f"{sorted(arrived)} exist now: remove them from COMING in tests/test_docs.py"


def test_site_links_follow_the_site_layout():
    prev = _script("preview_docs")
    git = {"git_url": "https://github.com/o/r", "branch": "main"}
    tut, expl = ROOT / "tutorials" / "losses.ipynb", ROOT / "nbs" / "explanations" / "paper_notes.ipynb"
    assert prev._site_link("../nbs/10_losses_contrastive.ipynb#a", tut, git) == "../10_losses_contrastive.ipynb#a"
    assert prev._site_link("../../tutorials/losses.ipynb", expl, git) == "../tutorials/losses.ipynb"
    on_github = "https://github.com/o/r/blob/main/scripts/main_job.sh"
    assert prev._site_link("../../scripts/main_job.sh", expl, git) == on_github
    assert prev._site_link("https://x.y/z.py", tut, git) == "https://x.y/z.py"
    html = '<h2 id="CARL-loss-%7B%23carl-loss%7D">CARL loss {#carl-loss}<a class="anchor-link" href="#x">¶</a></h2>'
    fixed = '<h2 id="carl-loss">CARL loss<a class="anchor-link" href="#carl-loss">¶</a></h2>'
    assert prev._heading_ids(html) == fixed
    plain = '<h1 id="Paper-notes">Paper notes<a class="anchor-link" href="#Paper-notes">¶</a></h1><p>x</p>'
    assert prev._heading_ids(plain + html) == plain + fixed, "an id-less heading must keep its own id"


def test_every_page_has_a_short_subtitle():
    prev = _script("preview_docs")
    pages = prev.repo_pages()
    assert len(pages) > 40, f"only {len(pages)} pages found"
    problems = prev.subtitle_problems(pages)
    assert not problems, "\n".join(problems)
    lengths = [len(prev.page_subtitle(json.loads(p.read_text()))) for p in pages]
    assert sum(lengths) / len(lengths) <= 70, f"subtitles average {sum(lengths) / len(lengths):.0f} characters"


def test_subtitle_check_catches_long_and_missing_subtitles(tmp_path):
    prev = _script("preview_docs")
    def page(md):
        p = tmp_path / f"p{len(list(tmp_path.iterdir()))}.ipynb"
        p.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "#| default_exp x"},
                                           {"cell_type": "markdown", "source": md}]}))
        return p
    good, long_, missing = page("# T\n> A short page description"), page("# T\n\n> " + "x" * 101), page("# T\n\ntext")
    assert prev.page_subtitle(json.loads(good.read_text())) == "A short page description"
    problems = prev.subtitle_problems([good, long_, missing])
    assert len(problems) == 2 and "101 characters" in problems[0] and "no `> ` subtitle" in problems[1], problems
