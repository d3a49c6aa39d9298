# openai-realtime-mock as a container: build the wheel, then install only the wheel.
#   docker build -t openai-realtime-mock .
#   docker run --rm -p 8080:8080 openai-realtime-mock --seed 7

# Stage 1: build the wheel from the few files the build reads (see .dockerignore).
FROM python:3.12.8-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# The build backend is pinned and installed here, so the wheel build needs no isolation.
RUN pip install --no-cache-dir hatchling==1.33.0

COPY pyproject.toml README.md LICENSE ./
COPY mockserver/ mockserver/
# The wheel force-includes these as mockserver/scenarios (see pyproject.toml).
COPY fixtures/scenarios/ fixtures/scenarios/

RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

# Stage 2: the runtime, with the wheel (and its dependencies) installed and nothing else.
FROM python:3.12.8-slim-bookworm

LABEL org.opencontainers.image.title="openai-realtime-mock" \
      org.opencontainers.image.description="A local, offline imitation of OpenAI's Realtime POST /v1/realtime/client_secrets." \
      org.opencontainers.image.source="https://example.invalid/openai-realtime-mock" \
      org.opencontainers.image.licenses="MIT"

# A fixed, unprivileged uid/gid, so volume permissions and runAsNonRoot policies can rely on it.
RUN groupadd --system --gid 10001 mock \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mock

COPY --from=build /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

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
