"""Plain-code checks run by CI: line length, `;`-joined statements, module size, citations users can follow.

Usage: python scripts/check_style.py [--max-line 120] [--max-module 320]
Exit status 1 with one line per finding when a rule is broken.
"""
from __future__ import annotations
import argparse, io, json, sys, tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED_INDEX = "_modidx.py"  # nbdev's symbol index: generated, not read by people


def semicolon_lines(source: str) -> list[int]:
    "Line numbers of `;` used as a statement separator (tokens, so strings and comments don't count)."
    try:
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        return [t.start[0] for t in tokens if t.type == tokenize.OP and t.string == ";"]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def code_cells(nb_path: Path):
    "(cell index, source) of each code cell, IPython magics and shell lines blanked so tokenize accepts them."
    nb = json.loads(nb_path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n")]
        yield i, "\n".join(lines)


def _all_block(lines: list[str]) -> set[int]:
    "Line numbers of nbdev's generated `__all__ = [...]` list (nbdev wraps it, then prefixes `__all__ = `)."
    out, inside = set(), False
    for n, line in enumerate(lines, 1):
        inside = inside or line.startswith("__all__ = [")
        if inside:
            out.add(n)
            inside = not line.rstrip().endswith("]")
    return out


def check(max_line: int, max_module: int) -> list[str]:
    problems = []
    for py in sorted((ROOT / "carl_nb").rglob("*.py")):
        if py.name == GENERATED_INDEX:
            continue
        rel = py.relative_to(ROOT)
        text = py.read_text()
        lines = text.split("\n")
        generated = _all_block(lines)
        problems += [f"{rel}:{n}: line of {len(line)} characters (> {max_line})"
                     for n, line in enumerate(lines, 1) if len(line) > max_line and n not in generated]
        problems += [f"{rel}:{n}: `;` joins statements" for n in semicolon_lines(text)]
        if len(lines) > max_module:
            problems.append(f"{rel}: module of {len(lines)} lines (> {max_module}); split its notebook")
    for nb in sorted([*(ROOT / "nbs").rglob("*.ipynb"), *(ROOT / "tutorials").glob("*.ipynb")]):
        if nb.name.startswith(("_", ".")) or ".ipynb_checkpoints" in nb.parts:
            continue
        rel = nb.relative_to(ROOT)
        for i, src in code_cells(nb):
            long = [n for n, line in enumerate(src.split("\n"), 1) if len(line) > max_line]
            problems += [f"{rel} cell {i} line {n}: longer than {max_line} characters" for n in long]
        if "papers.md" in nb.read_text():
            problems.append(f"{rel}: cites papers.md, which users do not have; link explanations/paper_notes.ipynb")
    return problems


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-line", type=int, default=120)
    ap.add_argument("--max-module", type=int, default=320)
    args = ap.parse_args()
    found = check(args.max_line, args.max_module)
    print("\n".join(found) if found else "style: all checks passed")
    sys.exit(1 if found else 0)
