"""Every code sample of README.md and docs/*.md runs against a live mock, so the documentation cannot rot.

Shell blocks run command by command (curl against a live mock, ``mockserver`` and the demo backend
started and stopped, ``docker run`` as the image's entry point with the same flags, environment and
files); Python blocks run as scripts; the Node sample runs with node; JSON, TOML and YAML blocks are
parsed and what they promise is checked (a response against a real one, a scenario loaded, the Compose
health check and the GitHub Actions health command run against a live server). Blocks that define
tests run in a child pytest (tests/test_readme_examples.py). What only a fresh environment can show
(the install commands) CI runs in one: scripts/walk_readme.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockserver.presets import PRESETS
from mockserver.scenario import load_scenario
from mockserver.testing import MockServer
from tests.helpers import ROOT, load_script
from tests.test_docker import container_env, entrypoint, free_port, healthcheck, resolve, wait_until_listening
from tests.test_examples import NODE_EXAMPLE, ensure_node_dependencies, read_line

#: Every wait here is bounded by one of these.
START_TIMEOUT = 15.0
RUN_TIMEOUT = 60.0
BIN = Path(sys.executable).parent
IMAGE = "openai-realtime-mock"  # the tag the documented `docker build -t` gives
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
DEMO_LISTENING = re.compile(r"^demo backend listening on (http://127\.0\.0\.1:\d+)$")
DIRECTIVES = ("", "response", "after-previous", "scenario")
LANGUAGES = {"python", "sh", "json", "yaml", "js", "toml", "text"}


ds = load_script("doc_samples")
SAMPLES: list[Any] = ds.all_samples()


def run_here(sample: Any) -> bool:
    return not sample.not_run and not sample.is_test


def of(language: str, directive: str | None = None) -> list[Any]:
    return [
        pytest.param(sample, id=sample.name)
        for sample in SAMPLES
        if sample.language == language and run_here(sample) and (directive is None or sample.directive == directive)
    ]


def previous(sample: Any) -> Any:
    """The block before ``sample`` in its document."""
    siblings = [s for s in SAMPLES if s.path == sample.path]
    index = siblings.index(sample)
    assert index > 0, f"{sample.name}: nothing before it"
    return siblings[index - 1]


def test_every_sample_is_run_or_says_why() -> None:
    assert len(SAMPLES) > 30
    for sample in SAMPLES:
        assert sample.language in LANGUAGES, f"{sample.name}: no test runs {sample.language!r} blocks"
        if sample.not_run is not None:
            assert len(sample.not_run) > 10, f"{sample.name}: say why it is not run, and what covers it"
            continue
        assert sample.directive in DIRECTIVES, f"{sample.name}: unknown directive {sample.directive!r}"
        if sample.language == "sh":
            for command in ds.commands(sample.code):
                assert ds.command_kind(command) in ds.KINDS, f"{sample.name}: no test runs {command!r}"
    # Everything the README shows is run, except the documentation build (which tests/test_docs.py runs).
    readme = [s for s in SAMPLES if s.path.name == "README.md" and s.not_run]
    assert [s.code.split()[0] for s in readme] == [".venv/bin/mkdocs"]


# --- shell blocks ----------------------------------------------------------------------------------


def _argv(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``VAR=value`` words as environment, the rest with this venv's programs for ``.venv/bin/...``."""
    env: dict[str, str] = {}
    while re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    program = words[0]
    if program.startswith(".venv/bin/") or program in ("mockserver", "python", "python3"):
        program = sys.executable if Path(program).name.startswith("python") else str(BIN / Path(program).name)
    return env, [program, *words[1:]]


def _with_free_port(argv: list[str]) -> list[str]:
    """``--port N`` becomes ``--port 0``: the process picks a free port and says which."""
    return ["0" if index and argv[index - 1] == "--port" else word for index, word in enumerate(argv)]


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOCKSERVER_", "OPENAI_"))}
    return {**env, **extra}


@contextmanager
def _process(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process, stopped with SIGTERM at the end, which it must survive with exit 0."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        _out, errors = process.communicate(timeout=START_TIMEOUT)
        assert process.returncode == 0, errors
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=START_TIMEOUT)


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=START_TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def _mint(port: int) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/realtime/client_secrets",
        data=b"{}",
        headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=START_TIMEOUT) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers)


def start_mockserver(command: str, stack: ExitStack, cwd: Path) -> int:
    env, argv = _argv(shlex.split(command))
    process = stack.enter_context(_process(_with_free_port(argv), _child_env({**env, "MOCKSERVER_PORT": "0"}), cwd))
    assert process.stdout is not None
    line = read_line(process.stdout, START_TIMEOUT)
    match = LISTENING.search(line)
    assert match, f"{command!r} printed {line!r}"
    port = int(match[1])
    assert _get(f"http://127.0.0.1:{port}/__mock/health")[0] == 200
    if "MOCKSERVER_SEED" in env or "--seed" in argv:
        seed = env.get("MOCKSERVER_SEED") or argv[argv.index("--seed") + 1]
        assert _mint(port)[1]["x-mock-seed"] == seed
    return port


def run_curl(command: str, port: int, cwd: Path) -> bytes:
    """The command as written, on the live mock's port, plus options to read the status; it must be < 400."""
    body = cwd / "curl-body"
    result = subprocess.run(
        ["bash", "-c", f"{ds.on_port(command, port)} -sS -o {shlex.quote(str(body))} -w '%{{http_code}}'"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 200 <= int(result.stdout) < 400, f"{command!r} answered {result.stdout}: {body.read_text()}"
    return body.read_bytes()


def run_demo(command: str, port: int, stack: ExitStack) -> None:
    """The backend as written, on the live mock; then what the page's button does: ``POST /session``."""
    env, argv = _argv(shlex.split(ds.on_port(command, port)))
    process = stack.enter_context(_process(_with_free_port(argv), _child_env(env), ROOT))
    assert process.stdout is not None
    line = read_line(process.stdout, START_TIMEOUT)
    match = DEMO_LISTENING.match(line)
    assert match, f"{command!r} printed {line!r}"
    status, _headers, page = _get(match[1])
    assert status == 200
    assert b"Get ephemeral key" in page
    request = urllib.request.Request(f"{match[1]}/session", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=START_TIMEOUT) as response:
        assert json.load(response)["value"].startswith("ek_")


def run_docker_run(command: str, cwd: Path, stack: ExitStack) -> int:
    """``docker run [options] IMAGE [args]``: the image's ENTRYPOINT with ``args``, its ENV, ``-e`` and ``-v``."""
    words = shlex.split(command)[2:]
    env: dict[str, str] = {}
    mounts: dict[str, str] = {}
    while words[0].startswith("-"):
        option = words.pop(0)
        if option in ("-e", "-v", "-p"):
            value = words.pop(0)
            if option == "-e":
                name, _, setting = value.partition("=")
                env[name] = setting
            elif option == "-v":
                host, container, *_mode = value.replace("$PWD", str(cwd)).split(":")
                assert Path(host).is_file(), f"{command!r}: {host} does not exist"
                mounts[container] = host
        else:
            assert option in ("--rm", "-d", "-it"), f"{command!r}: no test knows {option}"
    image, args = words[0], [mounts.get(word, word) for word in words[1:]]
    assert image == IMAGE
    port = free_port()
    workdir = cwd / "workdir"
    workdir.mkdir(exist_ok=True)
    argv = [resolve(entrypoint()[0]), *entrypoint()[1:], *args]
    process = stack.enter_context(_process(argv, {**container_env(port), **env, **_loopback(port)}, workdir))
    wait_until_listening(process, port, cwd / "unused.log")
    _flags, check = healthcheck()
    health = subprocess.run(
        [sys.executable, *check[1:]], env=_child_env(_loopback(port)), timeout=RUN_TIMEOUT, check=False
    )
    assert health.returncode == 0, "the image's HEALTHCHECK fails"
    if "MOCKSERVER_SEED" in env or "--seed" in args:
        seed = env.get("MOCKSERVER_SEED") or args[args.index("--seed") + 1]
        assert _mint(port)[1]["x-mock-seed"] == seed
    return port


def _loopback(port: int) -> dict[str, str]:
    return {"MOCKSERVER_HOST": "127.0.0.1", "MOCKSERVER_PORT": str(port)}


def run_shell_block(sample: Any, cwd: Path) -> bytes:
    """Each command in order; requests go to the mock the block started, or to a fresh one. Returns the last body."""
    body = b""
    with ExitStack() as stack:
        port: int | None = None

        def mock_port() -> int:
            nonlocal port
            if port is None:
                port = stack.enter_context(MockServer()).port
            return port

        for command in ds.commands(sample.code):
            kind = ds.command_kind(command)
            if kind in ("install", "docker-build"):
                continue  # a fresh environment (CI's walk) and CI's image check run these
            if kind == "mockserver":
                port = start_mockserver(command, stack, cwd)
            elif kind == "curl":
                body = run_curl(command, mock_port(), cwd)
            elif kind == "demo":
                run_demo(command, mock_port(), stack)
            elif kind == "docker-run":
                run_docker_run(command, cwd, stack)
            else:
                assert kind == "shell", command
                subprocess.run(["bash", "-c", command], cwd=cwd, timeout=RUN_TIMEOUT, check=True)
    return body


SHELL = [
    param
    for param in of("sh")
    if any(ds.command_kind(c) not in ("install", "docker-build") for c in ds.commands(param.values[0].code))
]


@pytest.mark.parametrize("sample", SHELL)
def test_shell_sample(sample: Any, tmp_path: Path) -> None:
    run_shell_block(sample, tmp_path)


def test_the_shell_samples_cover_every_kind() -> None:
    kinds = {ds.command_kind(c) for p in SHELL for c in ds.commands(p.values[0].code)}
    assert kinds >= {"curl", "mockserver", "demo", "docker-run", "shell"}


# --- Python scripts --------------------------------------------------------------------------------


def run_python(sample: Any, port: int, cwd: Path) -> None:
    script = cwd / "sample.py"
    script.write_text(ds.on_port(sample.code, port), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=_child_env({}),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("sample", of("python"))
def test_python_sample(sample: Any, tmp_path: Path) -> None:
    with MockServer() as mock:
        if sample.directive == "after-previous":
            before = previous(sample)
            assert before.language == "sh"
            for command in ds.commands(before.code):
                run_curl(command, mock.port, tmp_path)
        run_python(sample, mock.port, tmp_path)


# --- JSON, TOML, YAML ------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", of("json") + of("toml") + of("yaml"))
def test_data_sample_parses(sample: Any) -> None:
    parse = {"json": json.loads, "toml": tomllib.loads, "yaml": yaml.safe_load}[sample.language]
    assert parse(sample.code)


VARYING = {("value",), ("expires_at",), ("session", "id")}


def assert_same_shape(shown: Any, real: Any, path: tuple[str, ...] = ()) -> None:
    """The shown JSON is the real one: same keys in the same order, same values but those that vary."""
    where = ".".join(path) or "the body"
    if isinstance(shown, dict):
        assert isinstance(real, dict), where
        assert list(shown) == list(real), f"{where}: keys {list(shown)} != {list(real)}"
        for key in shown:
            assert_same_shape(shown[key], real[key], (*path, key))
    elif path in VARYING:
        assert type(shown) is type(real), where
    elif isinstance(shown, str) and shown.endswith("..."):
        assert isinstance(real, str), where
        assert real.startswith(shown.removesuffix("...").rstrip()), f"{where}: {real!r}"
    else:
        assert shown == real, f"{where}: shown {shown!r}, real {real!r}"


@pytest.mark.parametrize("sample", of("json", "response"))
def test_response_sample_is_what_the_request_answers(sample: Any, tmp_path: Path) -> None:
    request = previous(sample)
    assert request.language == "sh"
    real = json.loads(run_shell_block(request, tmp_path))
    assert_same_shape(json.loads(sample.code), real)


@pytest.mark.parametrize("sample", of("json", "scenario"))
def test_scenario_sample_loads_and_applies(sample: Any, tmp_path: Path) -> None:
    """Loaded as ``--scenario FILE`` loads it: its settings apply, and its rules answer the first requests."""
    path = tmp_path / "scenario.json"
    path.write_text(sample.code, encoding="utf-8")
    scenario = load_scenario(str(path))
    assert scenario.faults
    with MockServer(scenario=str(path)) as mock:
        in_force = json.loads(_get(f"{mock.url}/__mock/settings")[2])
        for name, value in scenario.settings.items():
            assert in_force[name] == value, name
        for rule in scenario.faults:
            status = rule.status if rule.status is not None else PRESETS[str(rule.error)].status
            for _ in range(rule.times or 1):
                assert _mint(mock.port)[0] == status
        assert mock.faults() == []


def _yaml_samples(key: str) -> list[Any]:
    return [p for p in of("yaml") if key in yaml.safe_load(p.values[0].code)]


COMPOSE = [p for p in _yaml_samples("services") if "jobs" not in yaml.safe_load(p.values[0].code)]
WORKFLOWS = _yaml_samples("jobs")


def test_there_are_compose_and_workflow_samples() -> None:
    assert COMPOSE
    assert WORKFLOWS
    assert {p.values[0].path.name for p in COMPOSE} >= {"README.md"}


@pytest.mark.parametrize("sample", COMPOSE)
def test_compose_service_runs_and_turns_healthy(sample: Any, tmp_path: Path) -> None:
    compose = yaml.safe_load(sample.code)
    mock = compose["services"]["mock"]
    assert mock["build"] == "."
    assert (ROOT / mock["build"] / "Dockerfile").is_file()
    assert mock["ports"] == ["8080:8080"]
    _flags, dockerfile_check = healthcheck()
    assert mock["healthcheck"]["test"] == ["CMD", *dockerfile_check], "the Dockerfile's own HEALTHCHECK"
    app = compose["services"]["app"]
    assert app["environment"]["OPENAI_BASE_URL"] == "http://mock:8080/v1"
    assert app["depends_on"]["mock"]["condition"] == "service_healthy"
    # The service's command, run as the image runs it; then its health check, as Compose runs it ("CMD":
    # the rest is the argv), while it serves and after it stopped.
    argv = [sys.executable, *mock["healthcheck"]["test"][2:]]
    assert mock["healthcheck"]["test"][1] == "python"
    with ExitStack() as stack:
        port = run_docker_run(shlex.join(["docker", "run", IMAGE, *mock["command"]]), tmp_path, stack)
        env = _child_env(_loopback(port))
        assert subprocess.run(argv, env=env, timeout=RUN_TIMEOUT, check=False).returncode == 0
    assert subprocess.run(argv, env=env, timeout=RUN_TIMEOUT, check=False).returncode == 1


def _health_command(workflow: dict[str, Any]) -> tuple[dict[str, Any], str]:
    [job] = [job for job in workflow["jobs"].values() if "services" in job]
    service = job["services"]["mock"]
    options = shlex.split(service["options"])
    return service, options[options.index("--health-cmd") + 1]


@pytest.mark.parametrize("sample", WORKFLOWS)
def test_actions_service_health_command_runs_against_a_live_mock(sample: Any) -> None:
    workflow = yaml.safe_load(sample.code)
    service, health = _health_command(workflow)
    assert service["ports"] == ["8080:8080"]
    pushed = [
        step["with"]["tags"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("docker/build-push-action")
    ]
    assert pushed == [service["image"]], "the service runs the image the first job pushed"
    # Docker runs a string --health-cmd with the container's shell; `python` is the image's.
    env = _child_env({"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    with MockServer() as mock:
        healthy = subprocess.run(["sh", "-c", ds.on_port(health, mock.port)], env=env, timeout=RUN_TIMEOUT)
        assert healthy.returncode == 0
    down = subprocess.run(["sh", "-c", ds.on_port(health, free_port())], env=env, timeout=RUN_TIMEOUT)
    assert down.returncode != 0
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", []) if "env" in step]
    assert all(step["env"]["OPENAI_BASE_URL"] == "http://localhost:8080/v1" for step in steps)


# --- JavaScript ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", of("js"))
def test_node_sample(sample: Any, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the Node samples"
    ensure_node_dependencies()
    (tmp_path / "node_modules").symlink_to(NODE_EXAMPLE / "node_modules")
    with MockServer() as mock:
        script = tmp_path / "sample.mjs"
        script.write_text(ds.on_port(sample.code, mock.port), encoding="utf-8")
        result = subprocess.run(
            [node, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("ek_")
        mock.assert_minted(1)
