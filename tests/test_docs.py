"""The README is a front door and the pages of ``docs/`` hold the rest: every link holds.

The README stays short (at most 1,500 words, as ``wc -w`` counts them), links every page of
``docs/``, and every relative link in the README and in ``docs/*.md`` points to a file of the
repository and, for ``page.md#anchor``, to a heading of that page.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MAX_WORDS = 1500

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(markdown: str) -> str:
    """The markdown without its code blocks and code spans (a link there is not a link)."""
    return _CODE.sub("", _FENCE.sub("", markdown))


def links(path: Path) -> list[str]:
    """The targets of the links and images of a markdown file, code left out."""
    return _LINK.findall(prose(path.read_text()))


def slug(heading: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings (a repeated heading gets ``-1``, ``-2``...)."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(path.read_text()), re.MULTILINE):
        name, n = slug(heading), 0
        while (name if n == 0 else f"{name}-{n}") in found:
            n += 1
        found.add(name if n == 0 else f"{name}-{n}")
    return found


def test_the_readme_is_a_front_door_of_at_most_1500_words():
    words = len(README.read_text().split())  # what `wc -w README.md` counts
    assert words <= MAX_WORDS, f"README.md has {words} words; move the detail to docs/"


def test_the_readme_links_every_docs_page():
    linked = {unquote(urlsplit(t).path) for t in links(README)}
    missing = [p.name for p in PAGES if f"docs/{p.name}" not in linked]
    assert PAGES and not missing, f"README.md does not link docs/{missing}"


def test_the_slug_is_githubs():
    assert slug("Memory: every process under Binder's 2 GB") == (
        "memory-every-process-under-binders-2-gb"
    )
    assert slug("The `tchexnet` command") == "the-tchexnet-command"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file_and_a_heading(page):
    broken = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not path.exists() or not path.is_relative_to(ROOT):
            broken.append(f"{target}: no such file")
        elif parts.fragment and path.suffix == ".md" and parts.fragment not in anchors(path):
            broken.append(f"{target}: no heading #{parts.fragment} in {path.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
