"""openai-python's own generated tests for the client-secrets family and calls, run against the mock.

The tests come from the sdist of the installed ``openai`` version (PyPI), fetched once with
``pip download`` into pytest's cache directory and never committed. They run in a child
pytest with ``TEST_API_BASE_URL`` pointing at a live mock, strict and loose clients, sync and
async (httpx2 and aiohttp transports). Their ``respx2``-mocked tests (WebRTC ``calls.create``)
never reach a server and are deselected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest

from mockserver.testing import MockServer

#: The generated test files of the endpoints the mock serves.
TEST_FILES = (
    "tests/api_resources/realtime/test_client_secrets.py",
    "tests/api_resources/realtime/translations/test_client_secrets.py",
    "tests/api_resources/realtime/test_calls.py",
    "tests/api_resources/realtime/test_translations.py",
)
DOWNLOAD_TIMEOUT = 600
RUN_TIMEOUT = 600


def sdist_of_installed_openai(cache: Path) -> Path:
    """The unpacked sdist of the installed ``openai``, downloaded the first time (safe under xdist)."""
    installed = version("openai")
    target = cache / f"openai-{installed}"
    if (target / "tests" / "api_resources").is_dir():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        download = Path(scratch) / "download"
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        subprocess.run(
            [*pip, f"openai=={installed}", "--dest", str(download)],
            check=True,
            timeout=DOWNLOAD_TIMEOUT,
            capture_output=True,
        )
        [archive] = download.glob("openai-*.tar.gz")
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        try:
            os.replace(unpacked / f"openai-{installed}", target)
        except OSError:
            if not (target / "tests" / "api_resources").is_dir():  # another worker's copy is fine
                raise
    return target


def test_openai_pythons_generated_tests_pass_against_the_mock(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    assert pytestconfig.cache is not None
    sdist = sdist_of_installed_openai(pytestconfig.cache.mkdir("openai-sdist"))
    for name in TEST_FILES:
        assert (sdist / name).is_file(), name
    report = tmp_path / "report.xml"
    with MockServer() as mock:
        options = ["-m", "not respx2", "-o", "addopts=", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *TEST_FILES, *options],
            cwd=sdist,
            env={**os.environ, "TEST_API_BASE_URL": mock.base_url, "PYTHONPATH": str(sdist)},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        served = len(mock.requests())
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    # openai 3.57: client secrets 20, translation client secrets 20, calls 90 (20 respx2-mocked ones deselected)
    assert counts["tests"] >= 130, counts
    assert served >= counts["tests"] - 20  # the path-parameter tests raise in the SDK and send nothing
