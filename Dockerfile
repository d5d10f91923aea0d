# chatlink in a container: slim, non-root, runtime dependencies only, data in a volume.
#   docker build -t chatlink .        (or: podman build -t chatlink .)
#   docker run -p 8000:8000 -v chatlink-data:/data --env-file .env chatlink
# With PostgreSQL and Redis beside it: compose.yaml.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY adapters ./adapters
# A virtual environment holding chatlink and its runtime dependencies, not the test extra.
RUN python -m venv /opt/chatlink && /opt/chatlink/bin/pip install --quiet .

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/chatlink /opt/chatlink
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin chatlink \
    && mkdir -p /data && chown chatlink:chatlink /data
ENV PATH=/opt/chatlink/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8000
USER chatlink
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# The standard library only: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/healthz\", timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["chatlink", "run"]
