# openai-realtime-mock as a container: build the wheel, install it, copy only what was installed.
#   docker build -t openai-realtime-mock .
#   docker run --rm -p 8080:8080 openai-realtime-mock --seed 7
#   docker build --build-arg EXTRAS=redis -t openai-realtime-mock:redis .   # with the [redis] extra
#   docker build --build-arg EXTRAS=redis,uvloop -t openai-realtime-mock:fast .   # also on uvloop's loop
# Every package version comes from docker/constraints.txt (refresh it with scripts/lock.py), so two
# builds of one commit install the same versions.

# Stage 1: build the wheel from the few files the build reads (see .dockerignore), then install it
# with its pinned dependencies under /install, laid out as they will be in the runtime stage.
FROM python:3.12.8-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# The build backend, pinned by the constraints like everything else, so the wheel build needs no isolation.
COPY docker/constraints.txt docker/
RUN pip install --no-cache-dir --constraint docker/constraints.txt hatchling

COPY pyproject.toml README.md LICENSE ./
COPY mockserver/ mockserver/
# The wheel force-includes these as mockserver/scenarios (see pyproject.toml).
COPY fixtures/scenarios/ fixtures/scenarios/

RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir dist .

# --root: the same paths as a plain install (whatever this Python's install scheme is), under /install;
# --ignore-installed: everything lands there, even what the build tools above already brought.
# Wheels only (--only-binary), so no compiler is needed. Byte-code is written for everything but
# Faker's non-English locales (8 MB the server never imports; such a module still imports, compiled
# in memory), with paths as seen from the runtime stage and checked by hash, not by file time.
# EXTRAS: the project's extras to install with it, comma-separated (e.g. redis, for --store redis://;
# deploy/compose.yaml builds that one); empty by default, which installs exactly the core.
ARG EXTRAS=""
RUN wheel=$(echo dist/*.whl) \
    && pip install --no-cache-dir --no-compile --root /install --ignore-installed \
        --only-binary=:all: --constraint docker/constraints.txt "${wheel}${EXTRAS:+[$EXTRAS]}" \
    && python -m compileall -q -j 0 -s /install -p / --invalidation-mode unchecked-hash \
        -x '/faker/providers/[^/]+/(?!en/|en_US/)[a-z]{2,3}(_[A-Z]{2})?/' /install

# Stage 2: the runtime: the installed packages and the console script, and nothing else (no wheel,
# no build tools, no source tree).
FROM python:3.12.8-slim-bookworm

LABEL org.opencontainers.image.title="openai-realtime-mock" \
      org.opencontainers.image.description="A local, offline imitation of OpenAI's Realtime POST /v1/realtime/client_secrets." \
      org.opencontainers.image.source="https://example.invalid/openai-realtime-mock" \
      org.opencontainers.image.licenses="MIT"

# A fixed, unprivileged uid/gid, so volume permissions and runAsNonRoot policies can rely on it.
RUN groupadd --system --gid 10001 mock \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mock

COPY --from=build /install/ /

WORKDIR /app

# 0.0.0.0 only here: inside the container the port must be reachable through -p; outside it the
# server's default stays 127.0.0.1.
ENV MOCKSERVER_HOST=0.0.0.0 \
    MOCKSERVER_PORT=8080 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001

EXPOSE 8080

# Slim has no curl: the image's own Python asks the health endpoint. The exec form cannot expand
# ${MOCKSERVER_PORT}, so the one-liner reads it; any error (refused, timeout, non-200) exits 1.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import json, os, sys, urllib.request as u; r = u.urlopen('http://127.0.0.1:%s/__mock/health' % os.environ.get('MOCKSERVER_PORT', '8080'), timeout=2); sys.exit(0 if r.status == 200 and json.load(r).get('status') == 'ok' else 1)"]

# Exec form: mockserver is PID 1 and gets SIGTERM itself (aiohttp drains and exits 0).
# Flags go after the image name: docker run IMAGE --seed 7 --latency-ms 50
ENTRYPOINT ["mockserver"]
