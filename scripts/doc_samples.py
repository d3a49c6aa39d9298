"""The code samples of README.md and docs/*.md: found, told apart, and pointed at a live mock.

The tests (tests/test_doc_samples.py, tests/test_readme_examples.py) run every sample this finds;
CI's new-user steps (scripts/readme_tests.py, scripts/walk_readme.py) run the ones that need a fresh
environment. Samples are written for the default address, ``localhost:8080``; :func:`on_port` moves
them to the port of the server a test started.

A sample may carry a directive, an HTML comment on the line just before its opening fence (invisible
on GitHub and on the site):

- ``<!-- sample: response -->``: a JSON block showing what the previous block's request answers;
  compared with a real answer, values that change on every call aside.
- ``<!-- sample: after-previous -->``: runs on the same server right after the previous block.
- ``<!-- sample: scenario -->``: a JSON block that is a scenario file; the server loads it.
- ``<!-- sample: not-run: REASON -->``: not run, and the reason says why (and what covers it).
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KINDS",
    "ROOT",
    "TEST",
    "Sample",
    "all_samples",
    "command_kind",
    "commands",
    "documents",
    "on_port",
    "samples",
]

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<language>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)
DIRECTIVE = re.compile(r"^\s*<!-- sample: (?P<directive>.+?) -->\s*$")
TEST = re.compile(r"^(?:async )?def test_", re.MULTILINE)
LOCAL = re.compile(r"\b(?:localhost|127\.0\.0\.1):8080\b")

#: What each kind of shell command is, and who runs it.
KINDS = {
    "install": "creates an environment and installs into it: CI runs it in a fresh one (scripts/walk_readme.py)",
    "curl": "a request to the mock: run against a live one",
    "mockserver": "starts the mock: run, then stopped with SIGTERM",
    "demo": "starts the demo backend: run against a live mock, then its key button pressed",
    "docker-build": "builds the image: CI's image check builds this Dockerfile",
    "docker-run": "runs the image: its entry point runs with the same flags, environment and files",
    "shell": "prepares a file for the commands after it: run in the block's folder",
}


@dataclass(frozen=True)
class Sample:
    """One fenced code block of a document."""

    path: Path
    line: int
    language: str
    code: str
    directive: str = ""

    @property
    def name(self) -> str:
        """``docs/quickstart.md:42``: where it is (the line of its opening fence)."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """Why it is not run, if its directive says so."""
        kind, _, reason = self.directive.partition(":")
        return reason.strip() if kind == "not-run" else None

    @property
    def is_test(self) -> bool:
        """A Python block that defines pytest tests (run in a child pytest, not as a script)."""
        return self.language == "python" and bool(TEST.search(self.code))


def documents() -> list[Path]:
    """README.md, then the pages of docs/ in name order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def samples(path: Path) -> list[Sample]:
    """The fenced code blocks of one document, in order, with their directives."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found: list[Sample] = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        previous = lines[line - 2] if line >= 2 else ""
        directive = DIRECTIVE.match(previous)
        code = textwrap.dedent(match["code"]) if match["indent"] else match["code"]
        found.append(Sample(path, line, match["language"], code, directive["directive"] if directive else ""))
    return found


def all_samples() -> list[Sample]:
    return [sample for path in documents() for sample in samples(path)]


def commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def command_kind(command: str) -> str:
    """One of :data:`KINDS`, or ``unknown`` for a command no test knows how to run."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]  # VAR=value before the command
    program = Path(words[0]).name if words else ""
    if "pip install" in command:
        return "install"
    if program == "curl":
        return "curl"
    if program == "mockserver" or words[:3] == ["python", "-m", "mockserver"]:
        return "mockserver"
    if "examples/demo_backend.py" in words[1:2]:
        return "demo"
    if words[:2] == ["docker", "build"]:
        return "docker-build"
    if words[:2] == ["docker", "run"]:
        return "docker-run"
    if program == "echo" and ">" in words:
        return "shell"
    return "unknown"


def on_port(text: str, port: int) -> str:
    """``text`` with the default address (``localhost:8080``, ``127.0.0.1:8080``) moved to ``port``."""
    return LOCAL.sub(f"127.0.0.1:{port}", text)
