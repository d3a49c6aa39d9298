"""The documentation site (docs/, MkDocs) builds with warnings as errors and has the pages it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import yaml

from tests.helpers import ROOT, load_script

DOCS = ROOT / "docs"
PAGES = [
    "index.md",
    "quickstart.md",
    "configuration.md",
    "shared-state.md",
    "client-secrets.md",
    "realtime.md",
    "translation.md",
    "calls.md",
    "faults.md",
    "control.md",
    "testing.md",
    "container.md",
    "scaling.md",
    "demo.md",
    "differences.md",
    "performance.md",
    "security.md",
    "changelog.md",
]


def hooks() -> ModuleType:
    return load_script("mkdocs_hooks")


def build(site: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    result = build(tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    for page in PAGES:
        built = tmp_path / "site" / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
        assert built.is_file(), page
    changelog = (tmp_path / "site" / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "[Unreleased]" in changelog  # CHANGELOG.md, included
    performance = (tmp_path / "site" / "performance" / "index.html").read_text(encoding="utf-8")
    assert 'href="https://example.invalid/openai-realtime-mock/blob/main/BENCHMARKS.md"' in performance


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """What --strict buys: a link to a missing page or file is an error, not a quiet 404."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](../NOWHERE.md) and [also gone](missing.md)\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        "site_name: t\nrepo_url: https://example.invalid/r\n"
        f"hooks:\n  - {ROOT / 'scripts' / 'mkdocs_hooks.py'}\n"
        "validation:\n  unrecognized_links: warn\n  anchors: warn\n"
    )
    result = build(tmp_path / "site", config)
    assert result.returncode != 0
    assert "the link ../NOWHERE.md leads nowhere in the repository" in result.stderr
    assert "missing.md" in result.stderr


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    nav = [next(iter(entry.values())) for entry in config["nav"]]
    assert sorted(nav) == sorted(PAGES)
    assert sorted(path.name for path in DOCS.glob("*.md")) == sorted(PAGES)


def test_differences_page_keeps_its_heading() -> None:
    assert (DOCS / "differences.md").read_text(encoding="utf-8").startswith("# Differences from the real API\n")


def test_docs_build_is_part_of_the_test_extra() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"mkdocs>=1.6,<2"' in pyproject


def test_include_replaces_the_line_with_the_file_without_its_title(tmp_path: Path) -> None:
    (tmp_path / "NOTES.md").write_text("# Notes\n\n## One\n\ntext\n")
    page = tmp_path / "docs"
    page.mkdir()
    out = hooks().with_includes("# Page\n\n<!-- include: ../NOTES.md -->\n", page)
    assert out == "# Page\n\n## One\n\ntext\n\n"


def test_outside_links_point_at_the_repository(tmp_path: Path) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "errors.json").write_text("{}")
    docs = tmp_path / "docs"
    docs.mkdir()
    markdown = "[e](../fixtures/errors.json#x) [d](../fixtures) [p](page.md) [w](https://example.com/a)"
    out = hooks().outside_links(markdown, docs, tmp_path, "https://example.invalid/r/")
    assert out == (
        "[e](https://example.invalid/r/blob/main/fixtures/errors.json#x) "
        "[d](https://example.invalid/r/tree/main/fixtures) [p](page.md) [w](https://example.com/a)"
    )
