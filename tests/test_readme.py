"""The README is the front page: the two commands, the recipes, the configuration table, the differences."""

from __future__ import annotations

import re
from types import ModuleType

from mockserver.presets import PRESETS
from mockserver.scenario import BUNDLED
from tests.helpers import ROOT, load_script

README = ROOT / "README.md"
DOCS = ROOT / "docs"


def config_table_script() -> ModuleType:
    return load_script("config_table")


def test_config_tables_match_the_settings() -> None:
    """README.md and docs/configuration.md; `scripts/config_table.py --write` rewrites both."""
    script = config_table_script()
    expected = script.config_table()
    for document in script.DOCUMENTS:
        assert script.table_in(document.read_text(encoding="utf-8")) == expected, f"{document}: stale table"
    assert script.main([]) == 0


def test_config_table_keeps_a_pipe_out_of_code_spans() -> None:
    """`--control ON|OFF`: a bare | splits a GitHub table cell, and \\| inside a code span shows its backslash."""
    row = next(line for line in config_table_script().config_table().splitlines() if "--control " in line)
    assert row.startswith("| `--control ON`\\|`OFF` | `MOCKSERVER_CONTROL` |")


def test_readme_is_the_front_page() -> None:
    readme = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    assert headings[:2] == ["The two commands", "Recipes"]
    for heading in ("Offline demo", "Configuration", "Differences from the real API", "Documentation"):
        assert heading in headings
    recipes = re.findall(r"^### \d\. (.+)$", readme, re.MULTILINE)
    assert len(recipes) == 3
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/mockserver" in readme
    assert "pip install -e '.[test]' && .venv/bin/python scripts/check.py" in readme
    assert "pip install '.[demo]'" in readme
    # Short: the reference lives in docs/.
    assert len(readme.splitlines()) < 300


def test_readme_links_to_every_docs_page_and_they_exist() -> None:
    readme = README.read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)(?:#[\w-]+)?\)", readme))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert linked <= pages
    assert pages - linked == {"changelog.md"}  # the README links CHANGELOG.md itself
    assert "](docs/index.md)" in readme
    assert "](docs/differences.md)" in readme
    assert "](docs/configuration.md)" in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci
    assert ci.rstrip().endswith("scripts/check.py"), "the test suite runs last: its closing line ends CI's output"
    assert "scripts/walk_readme.py" in ci
    assert "scripts/readme_tests.py" in ci
    assert "mkdocs build --strict" in ci


def test_ci_builds_and_runs_the_image_or_says_why_not() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "image_check=../shared/tools/image_check.sh" in ci
    assert 'bash "$image_check" .' in ci
    # Never silently skipped: each way out prints a line saying so.
    assert ci.count('echo "==> image check SKIPPED: ') == 3
    assert '"$(id -u)" != 0' in ci
    assert "command -v apt-get" in ci


def test_faults_page_lists_every_preset_and_scenario() -> None:
    faults = (DOCS / "faults.md").read_text(encoding="utf-8")
    for name, preset in PRESETS.items():
        assert f"| `{name}` | {preset.status} | {preset.summary} |" in faults
    for name in BUNDLED:
        assert f"`{name}`" in faults
