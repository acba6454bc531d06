"""The documents a newcomer reads first are whole: no merge left half done."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    marked = []
    for name in files:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".toml", ".cfg", "") or not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in lines):
            marked.append(name)
    assert marked == []


def test_every_table_of_the_readme_has_its_header() -> None:
    """A blank line inside a table splits it: the rows after it become a table without a
    header, which Markdown renders as text."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    headerless = []
    for i, line in enumerate(lines):
        starts = line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
        if starts and not (i + 1 < len(lines)
                           and set(lines[i + 1].replace(" ", "")) <= set("|-:")):
            headerless.append(f"README.md:{i + 1}: {line[:60]}")
    assert headerless == []


def test_the_readme_names_the_demos_institution_next_to_the_archive_commands() -> None:
    import inspect

    from api.demo import load_demo

    slug = inspect.signature(load_demo).parameters["slug"].default
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"archive export --institution {slug} --year" in text
    assert f"users add --institution {slug} --role auditor" in text
