"""MkDocs hooks (``hooks:`` in mkdocs.yml), so the pages read the same on GitHub and on the site.

- ``<!-- include: ../CHANGELOG.md -->`` on a line of its own is replaced by that file (its first
  heading dropped: the page has its own), so the changelog is kept in one place.
- A link to a file outside ``docs/`` (``../BENCHMARKS.md``, ``../fixtures/errors.json``) works as
  written on GitHub; on the site it becomes a link to that file in the repository (``repo_url``). A
  target that does not exist is a warning, so ``mkdocs build --strict`` fails on it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

__all__ = ["on_page_markdown", "outside_links", "with_includes"]

#: Under the ``mkdocs`` logger, so ``--strict`` counts the warnings.
log = logging.getLogger("mkdocs.hooks.openai_realtime_mock")

INCLUDE = re.compile(r"^<!-- include: (?P<path>\S+) -->$", re.MULTILINE)
OUTSIDE_LINK = re.compile(r"\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")
FIRST_HEADING = re.compile(r"\A# [^\n]*\n+")


def with_includes(markdown: str, page_dir: Path) -> str:
    """``markdown`` with every include line replaced by the file it names (relative to the page)."""

    def include(match: re.Match[str]) -> str:
        path = page_dir / match["path"]
        if not path.is_file():
            log.warning("cannot include %s: no such file", path)
            return match[0]
        return FIRST_HEADING.sub("", path.read_text(encoding="utf-8"))

    return INCLUDE.sub(include, markdown)


def outside_links(markdown: str, page_dir: Path, root: Path, repo_url: str) -> str:
    """Links from a page to files outside ``docs/``, pointed at the repository (``blob`` or ``tree``)."""

    def rewrite(match: re.Match[str]) -> str:
        target = (page_dir / match["target"]).resolve()
        if not target.exists() or not target.is_relative_to(root):
            log.warning("the link %s leads nowhere in the repository (%s)", match["target"], target)
            return match[0]
        kind = "tree" if target.is_dir() else "blob"
        relative = target.relative_to(root).as_posix()
        return f"]({repo_url.rstrip('/')}/{kind}/main/{relative}{match['anchor'] or ''})"

    return OUTSIDE_LINK.sub(rewrite, markdown)


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    assert page.file.abs_src_path is not None
    page_dir = Path(page.file.abs_src_path).parent
    root = Path(config.config_file_path).resolve().parent
    return outside_links(with_includes(markdown, page_dir), page_dir, root, config.repo_url or "")
