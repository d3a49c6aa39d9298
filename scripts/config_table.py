#!/usr/bin/env python3
"""The configuration table (flag | env | default | meaning), made from ``mockserver.settings.OPTIONS``.

README.md and docs/configuration.md carry it between ``<!-- config-table:start -->`` and
``<!-- config-table:end -->``; tests/test_docs.py checks both against the settings. After adding or
changing a setting, rewrite them with::

    .venv/bin/python scripts/config_table.py --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from mockserver.settings import OPTIONS

__all__ = ["DOCUMENTS", "END", "START", "config_table", "replace_table", "table_in"]

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "configuration.md")
START = "<!-- config-table:start -->\n"
END = "\n<!-- config-table:end -->"


def _cell(text: str) -> str:
    # A bare | would end the cell (on GitHub even inside backticks); \| is a literal one outside code.
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    # Inside a code span \| would show its backslash (MkDocs), so a | is set between two code spans.
    return "`" + text.replace("|", "`\\|`") + "`"


def _shown_default(default: object) -> str:
    return "unset" if default in (None, ()) else f"`{default}`"


def config_table() -> str:
    """The table for the settings as they are now."""
    rows = ["| flag | env | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        flag = _code(f"{option.flag} {option.metavar}")
        rows.append(f"| {flag} | `{option.env}` | {_cell(_shown_default(option.default))} | {_cell(option.meaning)} |")
    return "\n".join(rows)


def table_in(document: str) -> str:
    """The table between the markers of ``document``."""
    return document.split(START, 1)[1].split(END, 1)[0]


def replace_table(document: str, table: str) -> str:
    before, rest = document.split(START, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{START}{table}{END}{after}"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print(__doc__, file=sys.stderr)
        return 2
    table = config_table()
    stale = [path for path in DOCUMENTS if table_in(path.read_text(encoding="utf-8")) != table]
    if not argv:
        print(table)
        return 1 if stale else 0
    for path in stale:
        path.write_text(replace_table(path.read_text(encoding="utf-8"), table), encoding="utf-8")
        print(f"rewrote the table in {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
