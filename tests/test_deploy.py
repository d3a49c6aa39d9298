"""The deployment examples (deploy/): checked against the project, then run on loopback.

deploy/compose.yaml and deploy/k8s/ are parsed and held to what the project really has: every
variable they set is a setting the server reads (and its value parses), every probe asks a real
route on the port the image serves, the build arguments are the Dockerfile's and name extras the
image lock pins. Then the compose topology runs here for real, without a container engine: a real
redis-server, three ``python -m mockserver --store redis://...`` replicas and Debian's nginx with
deploy/nginx.conf (only its upstream addresses and listen port replaced): a key minted through
nginx is introspected and revoked through it on other replicas, a WebSocket session through it
works, and the Kubernetes probes' own commands give the answers their comments promise.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from openai import AsyncOpenAI

from mockserver.app import ROUTES
from mockserver.cli import settings_from
from mockserver.settings import OPTIONS
from tests.helpers import ROOT, load_script
from tests.realtime_client import HELLO_ITEM, MODEL, SK, TIMEOUT, assert_openai_error, check_event
from tests.redis_server import RedisServer, free_port, redis_server
from tests.test_docker import Instruction, parse_dockerfile

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
NGINX_CONF = DEPLOY / "nginx.conf"
K8S = DEPLOY / "k8s"
ENV_NAMES = {option.env for option in OPTIONS}
MOCK_SERVICES = ("mock-1", "mock-2", "mock-3")
#: Every process of the live test starts and stops within this many seconds (generous: CI machines are shared).
START_TIMEOUT = 60.0


# --- what the project has ------------------------------------------------------------------------------


def dockerfile() -> list[Instruction]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM")
    return instructions[last_from:]


def image_env() -> dict[str, str]:
    """The final stage's ``ENV`` (``NAME=value`` pairs)."""
    env: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.keyword == "ENV":
            env.update(pair.split("=", 1) for pair in instruction.arguments.split())
    return env


def image_port() -> int:
    (expose,) = [int(i.arguments) for i in final_stage() if i.keyword == "EXPOSE"]
    assert int(image_env()["MOCKSERVER_PORT"]) == expose
    return expose


def image_user() -> tuple[int, int]:
    (user,) = [i.arguments for i in final_stage() if i.keyword == "USER"]
    uid, gid = user.split(":")
    return int(uid), int(gid)


def build_args() -> dict[str, str]:
    """Every ``ARG`` of the Dockerfile and its default."""
    args: dict[str, str] = {}
    for instruction in dockerfile():
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            args[name] = default.strip('"')
    return args


def get_routes() -> set[str]:
    return {path for path, methods in ROUTES.items() if "GET" in methods}


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return dict(project["optional-dependencies"])


def check_settings(env: Mapping[str, str]) -> Any:
    """The server's settings for ``env`` over the image's ENV, parsed as ``mockserver`` parses them."""
    assert set(env) <= ENV_NAMES, f"not settings: {sorted(set(env) - ENV_NAMES)}"
    return settings_from([], {**image_env(), **env})


def store_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.scheme == "redis", url
    assert parts.hostname is not None
    return parts.hostname, parts.port or 6379


def health_path(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", url
    assert parts.port is not None
    return parts.port, parts.path


# --- compose -------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_compose_runs_three_replicas_of_the_image_built_with_the_redis_extra() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "nginx", *MOCK_SERVICES}
    replicas = [services[name] for name in MOCK_SERVICES]
    images = {replica["image"] for replica in replicas}
    assert len(images) == 1
    for replica in replicas:
        build = replica["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT
        assert (ROOT / build.get("dockerfile", "Dockerfile")).is_file()
        assert set(build["args"]) <= set(build_args())
        wanted = build["args"]["EXTRAS"].split(",")
        assert set(wanted) <= set(extras()), "the image is built with extras pyproject.toml has"
        assert set(wanted) <= set(load_script("lock").IMAGE_EXTRAS), "and docker/constraints.txt pins"
        assert replica["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_replicas_share_one_redis_and_one_seed() -> None:
    services = compose()["services"]
    environments = [services[name]["environment"] for name in MOCK_SERVICES]
    assert all(env == environments[0] for env in environments)
    settings = check_settings(environments[0])
    host, port = store_address(environments[0]["MOCKSERVER_STORE"])
    assert host in services
    assert "--port" not in services[host].get("command", []), "Redis listens on its default port"
    assert port == 6379
    assert services[host]["image"] == "redis:7.4.2-alpine"
    assert settings.seed is not None
    assert settings.port == image_port()


def test_compose_healthchecks_ask_the_health_route_on_the_served_port() -> None:
    services = compose()["services"]
    for name in MOCK_SERVICES:
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        (url,) = re.findall(r"'(http://[^']+)'", test[3])
        assert health_path(url) == (image_port(), "/__mock/health")
    assert "/__mock/health" in get_routes()


def test_nginx_balances_the_compose_replicas_and_upgrades_websockets() -> None:
    services = compose()["services"]
    nginx = services["nginx"]
    assert nginx["image"] == "nginx:1.27.5-alpine"  # 1.27.3 and later: `server ... resolve` in open source
    (mount,) = nginx["volumes"]
    source, target, mode = mount.split(":")
    assert (DEPLOY / source).resolve() == NGINX_CONF
    assert (target, mode) == ("/etc/nginx/nginx.conf", "ro")
    (published,) = nginx["ports"]
    address, host_port, container_port = published.split(":")
    assert (address, host_port) == ("127.0.0.1", "8080")
    assert {name: dep["condition"] for name, dep in nginx["depends_on"].items()} == dict.fromkeys(
        MOCK_SERVICES, "service_healthy"
    )

    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert re.findall(r"^\s*listen (\d+);", conf, re.MULTILINE) == [container_port]
    upstream = re.search(r"upstream mock \{(.*?)\}", conf, re.DOTALL)
    assert upstream is not None
    servers = re.findall(r"^\s*server (\S+) resolve;", upstream[1], re.MULTILINE)
    assert servers == [f"{name}:{image_port()}" for name in MOCK_SERVICES]
    assert "zone mock " in upstream[1], "resolve needs the upstream in shared memory"
    assert re.search(r"^\s*resolver 127\.0\.0\.11 ", conf, re.MULTILINE), "Docker's DNS, asked again while running"
    assert "proxy_pass http://mock;" in conf
    for directive in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 1h;",
    ):
        assert directive in conf, directive


# --- Kubernetes ----------------------------------------------------------------------------------------


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of deploy/k8s/ that the kustomization lists, by (kind, name)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / resource).read_text(encoding="utf-8")):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in objects, key
            objects[key] = document
    return objects


def container_port(deployment: dict[str, Any], port: int | str) -> int:
    """A port of the Deployment's only container, given as a number or a name."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    if isinstance(port, str):
        return int(ports[port])
    assert port in ports.values()
    return port


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert set(manifests()) == {
        ("Deployment", "openai-realtime-mock"),
        ("Service", "openai-realtime-mock"),
        ("Deployment", "redis"),
        ("Service", "redis"),
    }


@pytest.mark.parametrize("name", ["openai-realtime-mock", "redis"])
def test_each_service_selects_its_deployments_pods_on_a_port_they_serve(name: str) -> None:
    objects = manifests()
    deployment, service = objects["Deployment", name], objects["Service", name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    for port in service["spec"]["ports"]:
        container_port(deployment, port["targetPort"])


def test_the_mock_deployment_runs_three_replicas_of_the_compose_image_on_the_image_port_and_user() -> None:
    objects = manifests()
    deployment = objects["Deployment", "openai-realtime-mock"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == compose()["services"]["mock-1"]["image"]
    assert [port["containerPort"] for port in container["ports"]] == [image_port()]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == image_user()
    assert objects["Deployment", "redis"]["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:7.4.2-alpine"


def test_the_mock_deployment_points_every_replica_at_the_redis_service() -> None:
    objects = manifests()
    (container,) = objects["Deployment", "openai-realtime-mock"]["spec"]["template"]["spec"]["containers"]
    env = {entry["name"]: entry["value"] for entry in container["env"]}
    settings = check_settings(env)
    assert settings.port == image_port()
    host, port = store_address(env["MOCKSERVER_STORE"])
    redis_service = objects["Service", host]
    (service_port,) = redis_service["spec"]["ports"]
    assert service_port["port"] == port
    assert container_port(objects["Deployment", "redis"], service_port["targetPort"]) == port


def mock_probes() -> tuple[dict[str, Any], dict[str, Any]]:
    (container,) = manifests()["Deployment", "openai-realtime-mock"]["spec"]["template"]["spec"]["containers"]
    return container["readinessProbe"], container["livenessProbe"]


def liveness_command(port: int) -> list[str]:
    """The liveness probe's command, asking ``port`` instead of the image's (the rest as written)."""
    _readiness, liveness = mock_probes()
    command = list(liveness["exec"]["command"])
    assert command[:2] == ["python", "-c"]
    url = f"http://127.0.0.1:{image_port()}/__mock/health"
    assert url in command[2]
    return [sys.executable, "-c", command[2].replace(url, f"http://127.0.0.1:{port}/__mock/health")]


def test_the_probes_ask_the_health_route_on_the_container_port() -> None:
    deployment = manifests()["Deployment", "openai-realtime-mock"]
    readiness, liveness = mock_probes()
    assert readiness["httpGet"]["path"] in get_routes()
    assert readiness["httpGet"]["path"] == "/__mock/health"
    assert container_port(deployment, readiness["httpGet"]["port"]) == image_port()
    (url,) = re.findall(r"\"(http://[^\"]+)\"", liveness["exec"]["command"][2])
    assert health_path(url) == (image_port(), readiness["httpGet"]["path"])


# --- the same topology, live on loopback ---------------------------------------------------------------


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port} within {START_TIMEOUT} s")


@contextmanager
def started(command: list[str], what: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running with its output in ``log``; stopped with SIGTERM (then killed) afterwards."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(START_TIMEOUT)


def render_nginx_conf(replicas: list[int], port: int, work: Path) -> str:
    """deploy/nginx.conf with the three replicas' loopback ports, a loopback listen port and temp paths in ``work``.

    Debian's nginx (1.22) predates ``server ... resolve`` (1.27.3); loopback addresses need no resolving.
    """
    conf = NGINX_CONF.read_text(encoding="utf-8")
    servers = iter(replicas)
    conf, replaced = re.subn(r"server mock-\d:\d+ resolve;", lambda _m: f"server 127.0.0.1:{next(servers)};", conf)
    assert replaced == len(replicas)
    conf, replaced = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", conf)
    assert replaced == 1
    temp = "".join(
        f"    {kind}_temp_path {work / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return conf.replace("http {\n", "http {\n" + temp, 1)


@dataclass
class Topology:
    redis: RedisServer
    replicas: dict[int, subprocess.Popen[bytes]]
    nginx_port: int
    access_log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}/v1"

    def upstreams(self) -> list[int]:
        """The replica port of each request nginx logged, in order."""
        lines = self.access_log.read_text(encoding="utf-8").splitlines()
        return [int(match[1]) for line in lines if (match := re.search(r" upstream=127\.0\.0\.1:(\d+) ", line))]

    def upstream(self, number: int) -> int:
        """The replica of the ``number``-th request nginx logged (it logs just after answering: a bounded wait)."""
        deadline = time.monotonic() + TIMEOUT
        while len(seen := self.upstreams()) < number:
            assert time.monotonic() < deadline, f"nginx logged {len(seen)} requests, expected {number}"
            time.sleep(0.02)
        return seen[number - 1]


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    """redis-server, three mockserver replicas on it, and nginx in front, all on loopback."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx is missing: apt-get install nginx-light (.ci/run installs it)")
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        replicas: dict[int, subprocess.Popen[bytes]] = {}
        for index in range(3):
            port = free_port()
            command = [sys.executable, "-m", "mockserver", "--port", str(port), "--seed", "7",
                       "--log-level", "warning", "--store", redis.url()]  # fmt: skip
            replicas[port] = stack.enter_context(
                started(command, f"replica {index + 1}", tmp_path / f"replica-{index + 1}.log")
            )
        for port, process in replicas.items():
            wait_for_port(port, process, f"replica on {port}")
        nginx_port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(render_nginx_conf(list(replicas), nginx_port, tmp_path), encoding="utf-8")
        command = ["nginx", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                   "-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"]  # fmt: skip
        nginx = stack.enter_context(started(command, "nginx", tmp_path / "access.log"))
        wait_for_port(nginx_port, nginx, "nginx")
        yield Topology(redis, replicas, nginx_port, tmp_path / "access.log")


def control(port: int, method: str, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def until_another_replica(topology: Topology, count: int, method: str, path: str, not_on: set[int]) -> tuple[int, Any]:
    """``method path`` through nginx, repeated (a few times at most) until a replica not in ``not_on`` answers."""
    for _ in range(2 * len(topology.replicas)):
        status, body = control(topology.nginx_port, method, path)
        count += 1
        replica = topology.upstream(count)
        if replica not in not_on:
            return count, (replica, status, body)
    raise AssertionError(f"nginx sent every {method} {path} to {sorted(not_on)}")


async def test_a_key_minted_through_nginx_is_introspected_revoked_and_used_on_other_replicas(
    topology: Topology,
) -> None:
    async with AsyncOpenAI(base_url=topology.base_url, api_key=SK, max_retries=0) as server_side:
        minted = await server_side.realtime.client_secrets.create(session={"type": "realtime", "model": MODEL})
        other = await server_side.realtime.client_secrets.create(session={"type": "realtime", "model": MODEL})
    first, second = topology.upstream(1), topology.upstream(2)

    # Introspected on another replica than the one that minted it, through nginx.
    path = f"/__mock/secrets/{minted.value}"
    count, (looked_up_on, status, secret) = until_another_replica(topology, 2, "GET", path, {first})
    assert (status, secret["value"], secret["status"]) == (200, minted.value, "active")
    # Revoked through nginx on a third replica; then every replica, asked directly, agrees.
    count, (revoked_on, status, secret) = until_another_replica(topology, count, "DELETE", path, {first, looked_up_on})
    assert (status, secret["status"]) == (200, "revoked")
    assert {first, looked_up_on, revoked_on} == set(topology.replicas)
    for port in topology.replicas:
        assert control(port, "GET", path)[1]["status"] == "revoked"

    # The revoked key opens no session through nginx (refused after the upgrade, as production does)...
    async with (
        AsyncOpenAI(base_url=topology.base_url, api_key=minted.value, max_retries=0) as browser_side,
        browser_side.realtime.connect(model=MODEL) as connection,
    ):
        refused = json.loads(await asyncio.wait_for(connection.recv_bytes(), TIMEOUT))
        assert_openai_error(refused, code="invalid_api_key")
    count += 1
    # ...and the other key opens one, and runs a turn, on another replica than the one that minted it.
    for _ in range(2 * len(topology.replicas)):
        async with (
            AsyncOpenAI(base_url=topology.base_url, api_key=other.value, max_retries=0) as browser_side,
            browser_side.realtime.connect(model=MODEL) as connection,
        ):
            created = json.loads(await asyncio.wait_for(connection.recv_bytes(), TIMEOUT))
            check_event(created)
            assert created["type"] == "session.created"
            await connection.conversation.item.create(item=HELLO_ITEM)  # type: ignore[arg-type]
            await connection.response.create()
            for _ in range(200):
                event = json.loads(await asyncio.wait_for(connection.recv_bytes(), TIMEOUT))
                check_event(event)
                if event["type"] == "response.done":
                    break
            assert event["type"] == "response.done"
            assert event["response"]["status"] == "completed"
        count += 1
        if topology.upstream(count) != second:
            break
    else:
        raise AssertionError(f"nginx sent every session to the replica that minted the key ({second})")
    status, secret = control(topology.nginx_port, "GET", f"/__mock/secrets/{other.value}")
    assert status == 200
    assert secret["sessions"], "the session is recorded in the shared store"


def test_the_probes_keep_a_replica_alive_but_not_ready_while_redis_is_down(topology: Topology) -> None:
    port = next(iter(topology.replicas))
    readiness, _liveness = mock_probes()
    probe = readiness["httpGet"]["path"]
    assert control(port, "GET", probe)[0] == 200
    assert subprocess.run(liveness_command(port), timeout=TIMEOUT, check=False).returncode == 0

    topology.redis.stop()
    deadline = time.monotonic() + START_TIMEOUT
    while (status := control(port, "GET", probe))[0] != 503:
        assert time.monotonic() < deadline, f"health still {status} after Redis stopped"
        time.sleep(0.1)
    # Not ready (the Service stops routing to it), but alive: Kubernetes does not restart it for Redis.
    assert subprocess.run(liveness_command(port), timeout=TIMEOUT, check=False).returncode == 0
    # What nginx answers when a replica cannot serve is still OpenAI's envelope.
    status, body = control(topology.nginx_port, "GET", "/__mock/secrets/ek_none")
    assert status == 503
    assert set(body["error"]) >= {"message", "type", "code"}

    # A replica that does not answer at all fails the liveness probe.
    topology.replicas[port].kill()
    topology.replicas[port].wait(START_TIMEOUT)
    assert subprocess.run(liveness_command(port), timeout=TIMEOUT, check=False).returncode == 1
    # With no replica left, nginx answers for itself, still in OpenAI's envelope.
    for process in topology.replicas.values():
        process.kill()
        process.wait(START_TIMEOUT)
    status, body = control(topology.nginx_port, "GET", probe)
    assert status == 503
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["message"] == "No mock replica is reachable behind the load balancer."


def test_nginx_leaves_the_body_limit_to_the_mock(topology: Topology) -> None:
    """An oversized body reaches a replica, whose 413 is OpenAI's envelope, not nginx's HTML page."""
    request = urllib.request.Request(
        f"{topology.base_url}/realtime/client_secrets",
        data=b" " * (2 * 1024 * 1024),
        headers={"Authorization": f"Bearer {SK}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused, urllib.request.urlopen(request, timeout=TIMEOUT):
        pass
    with refused.value as error:
        assert error.code == 413
        assert json.loads(error.read())["error"]["code"] == "request_too_large"
    assert topology.upstream(1) in topology.replicas
