# comfyui-worker on top of an existing ComfyUI image: this repository never installs ComfyUI itself.
#
#   docker build -t comfyui-worker .
#   docker build --build-arg BASE_IMAGE=my-registry/my-comfyui:tag -t comfyui-worker .
#
# The base must provide a ComfyUI folder (main.py; COMFYUI_DIR, default /comfyui) and a Python >= 3.11 that
# can run it (COMFYUI_PYTHON_BIN, default /opt/venv/bin/python) with `pip` on PATH. RunPod's worker-comfyui
# images do (CUDA, ComfyUI in /comfyui, its environment in /opt/venv); their -sdxl, -flux1-dev... variants
# add models, and an image of your own with custom nodes and models works the same way.
ARG BASE_IMAGE=runpod/worker-comfyui:5.8.5-base
FROM ${BASE_IMAGE}

ARG COMFYUI_DIR=/comfyui
ARG COMFYUI_PYTHON_BIN=/opt/venv/bin/python

ENV PYTHONUNBUFFERED=1
ENV UV_COMPILE_BYTECODE=1
ENV UV_LINK_MODE=copy
ENV UV_NO_CACHE=1

# The package, installed exactly as README.md installs it (uv makes /app/.venv from uv.lock).
WORKDIR /app
COPY . /app
RUN pip install uv && uv sync --frozen --no-dev

# The base's ComfyUI, run by its own Python, with the network volume's model folders.
ENV COMFYUI_PATH=${COMFYUI_DIR}
ENV COMFYUI_PYTHON=${COMFYUI_PYTHON_BIN}
ENV COMFYUI_ARGS="--extra-model-paths-config /app/config/extra_model_paths.yaml"

# The job store and ComfyUI's input/output/temp folders live on the /data volume.
ENV SQLITE_DB_PATH=/data/comfyui_jobs.db
ENV DATA_DIR=/data/comfyui
VOLUME ["/data"]

EXPOSE 8000
# /health straight to the local port (http.client: no HTTP_PROXY detour), healthy = 200 within 4 s. It stays
# fast while large outputs download: they are streamed from the store off the event loop.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import http.client as h, os, sys; c = h.HTTPConnection('127.0.0.1', int(os.environ.get('API_PORT', '8000')), timeout=4); c.request('GET', '/health'); sys.exit(c.getresponse().status != 200)"]

# The supervisor is PID 1: it reaps its children and forwards signals (no shell wrapper).
# The base's CMD (worker-comfyui: /start.sh) would become arguments of the entry point: clear it.
ENTRYPOINT ["/app/.venv/bin/comfyui-worker", "run"]
CMD []
