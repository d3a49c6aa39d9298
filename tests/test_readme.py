"""The README stays true: its configuration table is the settings table."""

from __future__ import annotations

from mockserver.presets import PRESETS
from mockserver.scenario import BUNDLED
from mockserver.settings import OPTIONS
from tests.helpers import ROOT


def _shown_default(default: object) -> str:
    if default in (None, ()):
        return "unset"
    if isinstance(default, tuple):
        return ", ".join(f"`{item}`" for item in default)
    return f"`{default}`"


def expected_config_table() -> str:
    rows = ["| flag | env | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        flag = f"`{option.flag} {option.metavar}`"
        rows.append(f"| {flag} | `{option.env}` | {_shown_default(option.default)} | {option.meaning} |")
    return "\n".join(rows)


def test_readme_config_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- config-table:start -->\n")[1].split("\n<!-- config-table:end -->")[0]
    assert block == expected_config_table()


def test_readme_has_the_sections_users_need() -> None:
    readme = (ROOT / "README.md").read_text()
    for heading in ("## The two commands", "## Configuration", "## Differences from the real API"):
        assert heading in readme
    assert "pip install -e '.[test]' && .venv/bin/python scripts/check.py" in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci
    assert "scripts/check.py" in ci


def test_readme_lists_every_preset_and_scenario() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, preset in PRESETS.items():
        assert f"| `{name}` | {preset.status} | {preset.summary} |" in readme
    for name in BUNDLED:
        assert f"`{name}`" in readme
