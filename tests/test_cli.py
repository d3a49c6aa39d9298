"""The ``mockserver`` command: flags, environment, start-up line, errors and shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from mockserver import __version__
from mockserver.cli import build_parser
from mockserver.settings import OPTIONS, Settings, SettingsError, build_settings

START_TIMEOUT = 15


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}
    env.update(extra or {})
    return env


@contextmanager
def started(*args: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m mockserver --port 0 ARGS``; yields the process and the first line it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline()  # bounded: the process exits (EOF) if it cannot start
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(START_TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


@contextmanager
def running(*args: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``python -m mockserver ARGS`` on a free port; yields the process and its port."""
    with started(*args, env=env) as (process, line):
        assert "listening on http://127.0.0.1:" in line, line + (process.stderr.read() if process.stderr else "")
        yield process, int(line.split("http://127.0.0.1:")[1].split()[0])


def _mint(
    port: int, body: bytes = b'{"session": {"type": "realtime"}}'
) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/realtime/client_secrets",
        data=body,
        headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def test_serves_and_stops_cleanly_on_sigterm() -> None:
    with running("--seed", "7") as (process, port):
        status, headers, body = _mint(port)
        assert status == 200
        assert str(body["value"]).startswith("ek_")
        assert headers["x-mock-seed"] == "7"
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT) == 0


def test_sigint_also_stops_cleanly() -> None:
    with running() as (process, _port):
        process.send_signal(signal.SIGINT)
        assert process.wait(START_TIMEOUT) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


@pytest.mark.parametrize("level", ["info", "error"])
def test_one_start_up_line_on_stdout_with_the_scenario(level: str) -> None:
    """Printed once, on stdout, whatever the log level; stderr carries logs only, never a second copy."""
    with started("--seed", "5", "--scenario", "flaky", "--log-level", level) as (process, line):
        version = re.escape(__version__)
        expected = rf"mockserver {version} listening on http://127\.0\.0\.1:\d+ \(seed 5, scenario flaky\)\n"
        assert re.fullmatch(expected, line), line
        process.send_signal(signal.SIGTERM)
        assert process.wait(START_TIMEOUT) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        rest, errors = process.stdout.read(), process.stderr.read()
    assert rest == ""
    assert "listening on" not in errors
    # At info the shutdown is logged; at error nothing is.
    assert ("stopped" in errors) == (level == "info")
    assert (errors == "") == (level == "error")


def test_environment_sets_and_flag_beats_environment() -> None:
    with running(env={"MOCKSERVER_SEED": "11"}) as (_process, port):
        assert _mint(port)[1]["x-mock-seed"] == "11"
    with running("--seed", "12", env={"MOCKSERVER_SEED": "11"}) as (_process, port):
        assert _mint(port)[1]["x-mock-seed"] == "12"


def test_api_keys_from_environment_are_enforced() -> None:
    with running(env={"MOCKSERVER_API_KEYS": "sk-a, sk-b"}) as (_process, port):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/realtime/client_secrets",
            data=b"{}",
            headers={"Authorization": "Bearer sk-c"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 401
        assert json.loads(caught.value.read())["error"]["code"] == "invalid_api_key"
        caught.value.close()


def test_bad_setting_gives_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mockserver"],
        capture_output=True,
        text=True,
        env=_env({"MOCKSERVER_PORT": "eighty"}),
        timeout=START_TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "MOCKSERVER_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_gives_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "mockserver", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=START_TIMEOUT,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == f"mockserver: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_help_documents_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--help"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=True,
    )
    for option in OPTIONS:
        assert option.flag in result.stdout
        assert option.env in result.stdout


def test_console_script_is_installed() -> None:
    scripts = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(scripts, "mockserver"), "--version"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=True,
    )
    assert result.stdout.startswith("mockserver ")


# --- Settings without a process ------------------------------------------------------------------------


def _parse(*argv: str) -> dict[str, object]:
    return vars(build_parser().parse_args(list(argv)))


def test_defaults() -> None:
    settings = build_settings(_parse(), {})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.seed, settings.api_keys) == ("127.0.0.1", 8080, None, ())


def test_precedence_flag_over_env_over_default() -> None:
    env = {"MOCKSERVER_PORT": "9000", "MOCKSERVER_HOST": "0.0.0.0", "MOCKSERVER_LOG_LEVEL": "debug"}
    settings = build_settings(_parse("--port", "9100"), env)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "debug"


def test_repeatable_api_key_flag_and_comma_separated_env() -> None:
    assert build_settings(_parse("--api-key", "a", "--api-key", "b"), {}).api_keys == ("a", "b")
    assert build_settings(_parse(), {"MOCKSERVER_API_KEYS": "a,b , c"}).api_keys == ("a", "b", "c")
    assert build_settings(_parse("--api-key", "x"), {"MOCKSERVER_API_KEYS": "a,b"}).api_keys == ("x",)


def test_invalid_values_name_their_source() -> None:
    with pytest.raises(SettingsError, match="--log-level"):
        build_settings(_parse("--log-level", "loud"), {})
    with pytest.raises(SettingsError, match="MOCKSERVER_PORT"):
        build_settings(_parse(), {"MOCKSERVER_PORT": "70000"})


def test_bundled_scenario_by_name_from_the_command_line() -> None:
    with running("--scenario", "outage") as (_process, port):
        with pytest.raises(urllib.error.HTTPError) as caught:
            _mint(port)
        assert caught.value.code == 503
        caught.value.close()


def test_unreadable_scenario_gives_one_line_and_exit_2(tmp_path: Any) -> None:
    for content, expected in [
        (None, "cannot read scenario file"),
        ("{not json", "is not valid JSON"),
        ('{"settings": {"latency": 5}}', "unknown setting(s) latency"),
        ('{"faults": [{"status": 200}]}', "faults[0]"),
        (
            '{"replies": [{"text": "ok"}, {"match": {"user_text": "x"}}]}',
            "replies[1]: Missing required parameter: 'text'. A reply rule needs 'text', 'tool_calls', or both.",
        ),
        ('{"replies": {"text": "ok"}}', "'replies' must be an array"),
        ('{"transcripts": ["ok", 2]}', "Invalid type for 'transcripts[1]': expected a string"),
    ]:
        path = tmp_path / "scenario.json"
        if content is not None:
            path.write_text(content)
        assert expected in _refused("--scenario", str(path))
        path.unlink(missing_ok=True)


def _refused(*args: str) -> str:
    """``python -m mockserver --port 0 ARGS`` refusing to start: exit 2 and one line on stderr (returned)."""
    result = subprocess.run(
        [sys.executable, "-m", "mockserver", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=START_TIMEOUT,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def _settings_of(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock/settings", timeout=10) as response:
        settings: dict[str, Any] = json.loads(response.read())
    return settings


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build; auto is asyncio there")
def test_the_command_runs_on_uvloop_when_installed_and_on_asyncio_when_told() -> None:
    pytest.importorskip("uvloop", reason="the uvloop extra (the test extra installs it)")
    with running() as (_, port):
        assert _mint(port)[0] == 200
        settings = _settings_of(port)
        assert (settings["loop"], settings["event_loop"]) == ("auto", "uvloop")
    with running("--loop", "asyncio") as (_, port):
        assert _mint(port)[0] == 200
        settings = _settings_of(port)
        assert (settings["loop"], settings["event_loop"]) == ("asyncio", "asyncio")
    with running(env={"MOCKSERVER_LOOP": "uvloop"}) as (_, port):
        assert _settings_of(port)["event_loop"] == "uvloop"


def test_an_unknown_loop_gives_one_line_and_exit_2() -> None:
    assert "--loop" in _refused("--loop", "trio")
