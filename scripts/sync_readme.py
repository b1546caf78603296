"""Generate README.md from nbs/index.ipynb, so the two say the same (`nbdev_readme` needs Quarto).

The notebook is the source: its markdown cells are copied, its code cells become ```python blocks followed by their
saved text output when short (<= 30 lines), and links relative to nbs/ are rewritten relative to the repository root.
Cells marked `#| hide` (or `#| include: false`) are left out; `#| echo: false` keeps only the output.
Usage: python scripts/sync_readme.py            write README.md
       python scripts/sync_readme.py --check    exit 1 (with a diff) when README.md is out of date
"""
from __future__ import annotations
import difflib, json, os, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "nbs" / "index.ipynb"
README = ROOT / "README.md"
NOTE = "<!-- generated from nbs/index.ipynb by scripts/sync_readme.py: edit the notebook, not this file -->"
MAX_OUTPUT_LINES = 30
LINK = re.compile(r'(\]\(|href=")([^)"\s]+)([)"])')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _readme_link(target: str) -> str:
    "A link written relative to nbs/ (where the notebook lives), rewritten relative to the repository root."
    if re.match(r"^(https?:|mailto:|data:|#|/)", target):
        return target
    return os.path.relpath(os.path.normpath(SOURCE.parent / target), ROOT).replace(os.sep, "/")


def _directives(src: str) -> tuple[dict, str]:
    "nbdev's `#| key: value` lines at the top of a cell, and the code without them."
    lines = src.split("\n")
    found = {}
    while lines and lines[0].startswith("#|"):
        key, _, value = lines.pop(0)[2:].strip().partition(":")
        found[key.strip()] = value.strip() or "true"
    return found, "\n".join(lines).strip("\n")


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out.get("name") == "stdout":   # not stderr's progress bars
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data") and "text/plain" in out.get("data", {}):
            parts.append("".join(out["data"]["text/plain"]) + "\n")
    return ANSI.sub("", "".join(parts)).rstrip("\n")


def render(nb: dict) -> str:
    "README text for the notebook `nb` (a parsed .ipynb)."
    blocks = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]).strip("\n")
        if cell["cell_type"] == "markdown":
            blocks.append(LINK.sub(lambda m: m[1] + _readme_link(m[2]) + m[3], src))
        elif cell["cell_type"] == "code":
            opts, code = _directives(src)
            if opts.get("hide") or opts.get("include") == "false":
                continue
            if code and opts.get("echo") != "false":
                blocks.append(f"```python\n{code}\n```")
            text = _output_text(cell)
            if text and len(text.split("\n")) <= MAX_OUTPUT_LINES:
                blocks.append(f"```\n{text}\n```")
    if blocks and blocks[0].startswith("# "):      # the note goes under the title, as nbdev_readme puts its own
        title, _, rest = blocks[0].partition("\n")
        blocks[0] = f"{title}\n\n{NOTE}\n\n{rest.strip()}".rstrip()
    else:
        blocks.insert(0, NOTE)
    return "\n\n".join(b for b in blocks if b) + "\n"


def main(argv) -> int:
    text = render(json.loads(SOURCE.read_text(encoding="utf-8")))
    if "--check" in argv[1:]:
        old = README.read_text(encoding="utf-8") if README.exists() else ""
        if old == text:
            print("README.md matches nbs/index.ipynb")
            return 0
        diff = difflib.unified_diff(old.splitlines(), text.splitlines(), "README.md", "from nbs/index.ipynb",
                                    lineterm="", n=1)
        print("\n".join(list(diff)[:40]))
        print("README.md is out of date with nbs/index.ipynb: run `python scripts/sync_readme.py`")
        return 1
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README.relative_to(ROOT)} from {SOURCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
