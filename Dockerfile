# The staging-runbook image: a Prefect flow-run container for the Cloud Run (cloud-run-v2) work pool of
# deployments/prefect-cloud-run.yaml, and the worker of that pool (the default command).
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/runbook/staging-runbook:TAG .
#
# The locked versions of requirements.lock, then the project itself without dependencies (as `make install` does),
# editable in /opt/prefect/staging-runbook: the deployments' pull step sets that working directory and the flow run
# imports flows/ and tasks/ from it. .dockerignore keeps .venv, .prefect (a machine's Prefect database and run
# history), .run, .git and the caches out of the image. No secret is baked in: the job gets them from Secret Manager
# (env_from_secrets) or Prefect Secret blocks. tests/test_container_image.py runs these RUN steps in a fresh venv.
FROM python:3.11-slim-bookworm

ENV VENV=/opt/venv \
    PROJECT=/opt/prefect/staging-runbook
ENV PATH=$VENV/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    DO_NOT_TRACK=1 \
    PREFECT_HOME=/home/runbook/.prefect

WORKDIR $PROJECT

# The locked requirements first: this layer is rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=cache,target=/root/.cache/uv \
    python -m venv "$VENV" \
    && "$VENV/bin/pip" install --disable-pip-version-check uv==0.13.9 \
    && "$VENV/bin/uv" pip install --python "$VENV/bin/python" -r requirements.lock

# The project, editable, with no dependencies of its own (they are all in the lock); its bytecode compiled now, since
# the runtime user cannot write next to the sources.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    "$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps -e . \
    && "$VENV/bin/python" -m compileall -q flows tasks runbook simulator \
    && "$VENV/bin/python" -c "import flows.handoff, flows.infrastructure, prefect_gcp"

RUN useradd --create-home --uid 10001 runbook
USER runbook

# Cloud Run jobs of the pool run `prefect flow-run execute` (the worker sets the job's command); without arguments
# the container is the pool's worker. Anything else: `docker run IMAGE runbook plan --env staging`.
CMD ["prefect", "worker", "start", "--pool", "staging-runbook-cloud-run", "--type", "cloud-run-v2"]
