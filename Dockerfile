# One image for every Driftline service (consume, retrain-worker, simulate, demo, ...):
#   docker build -t driftline .   then   docker run driftline <command> [options]
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first (cached while only the source changes).
COPY pyproject.toml README.md ./
RUN mkdir -p consumer detectors retrain_worker driftline \
    && touch consumer/__init__.py detectors/__init__.py retrain_worker/__init__.py driftline/__init__.py \
    && pip install . && pip uninstall -y driftline

COPY consumer ./consumer
COPY detectors ./detectors
COPY retrain_worker ./retrain_worker
COPY driftline ./driftline
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app driftline \
    && mkdir -p /data/models && chown -R driftline /data

USER driftline
# consumer /metrics, /healthz, /readyz; worker /metrics
EXPOSE 9108 9102
ENTRYPOINT ["driftline"]
CMD ["--help"]
