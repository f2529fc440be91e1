# One image for every Driftline service (consume, retrain-worker, simulate, demo, ...):
#   docker build -t driftline:0.1.0 .       (or: podman build / buildah bud, same arguments)
#   docker run driftline:0.1.0 <command> [options]
# compose.yaml and deploy/kubernetes/ run this image as driftline:0.1.0.
# Build arguments:
#   EXTRAS=mlflow       optional dependency groups of pyproject.toml (MLflow model registry)
#   BASE_IMAGE=...      any image with Python >= 3.11 and its venv module on PATH as python3
#                       (tests/test_deploy.py builds on a Debian bookworm image it makes itself)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/driftline PATH=/opt/driftline/bin:$PATH
WORKDIR /app

# Dependencies first (cached while only the source changes), in a virtual environment so the
# base image's own Python packages are never touched.
COPY pyproject.toml README.md ./
RUN python3 -m venv /opt/driftline \
    && mkdir -p consumer detectors retrain_worker driftline \
    && touch consumer/__init__.py detectors/__init__.py retrain_worker/__init__.py driftline/__init__.py \
    && pip install ".${EXTRAS:+[$EXTRAS]}" && pip uninstall -y driftline

COPY consumer ./consumer
COPY detectors ./detectors
COPY retrain_worker ./retrain_worker
COPY driftline ./driftline
RUN pip install --no-deps . \
    && echo "driftline:x:10001:0:Driftline:/app:/usr/sbin/nologin" >> /etc/passwd \
    && mkdir -p /data/models && chown -R 10001:0 /data && chmod -R g+w /data

# A non-root user by number; the Kubernetes manifests run it so, with a read-only root file
# system (/tmp and the model directory are volumes).
USER 10001
ENV HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib
# consumer /metrics, /healthz, /readyz; worker the same
EXPOSE 9108 9102
ENTRYPOINT ["driftline"]
CMD ["--help"]
