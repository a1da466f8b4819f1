"""The docs hang together: every relative link in the Markdown files points at a file that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# [text](target), not an image or a URL with a scheme; the #fragment is not checked.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")

# Pages that other branches of issues 15 and 16 add when they are merged; linked from
# docs/admins/README.md ahead of them. Empty this set once they are in.
ADDED_AT_MERGE: set[str] = set()


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    files += sorted((ROOT / "examples").rglob("README.md"))
    return files


def test_every_relative_link_in_the_docs_points_at_a_file():
    broken = []
    for path in markdown_files():
        for target in LINK.findall(path.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            relative = (
                resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
            )
            if not resolved.exists() and relative not in ADDED_AT_MERGE:
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_every_docs_page_is_linked_from_its_folders_index():
    unlinked = []
    for index in (ROOT / "docs").rglob("README.md"):
        linked = {
            (index.parent / target.split("#", 1)[0]).resolve() for target in LINK.findall(index.read_text())
        }
        for page in index.parent.glob("*.md"):
            if page.name != "README.md" and page.resolve() not in linked:
                unlinked.append(page.relative_to(ROOT).as_posix())
    assert unlinked == []
