# syntax=docker/dockerfile:1
# CPU image of the GLoRe gateway and job worker, serving the embedded default models
# (model_store/default, about 19 MB).
#
#   docker build -t glore .
#   docker run --rm -p 8000:8000 glore                       # the gateway
#   docker run --rm -e GLORE_REDIS_URL=redis://host:6379/0 glore glore worker
#
# docker-compose.yml runs the gateway, a worker and Redis together (and, with
# `--profile gpu`, vLLM servers behind a second gateway).
#
# Not built here: the machine this project is developed on cannot run docker builds;
# tests/service/test_compose.py checks this file's pins, user and healthcheck statically.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group glore
WORKDIR /app

# torch first, from the CPU index (the CPU wheel, about 200 MB instead of the CUDA one's
# several GB); it is its own layer, so code changes do not reinstall it. Its version is
# pyproject.toml's pin, which the CPU wheel (2.13.0+cpu) satisfies.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY glore ./glore
COPY service ./service
COPY training ./training
# ct2: CTranslate2, for GLORE_GREEDY_ENGINE=ct2 (greedy generation on the CPU).
RUN pip install ".[service,ct2]"

COPY model_store/default ./model_store/default

USER glore
ENV GLORE_MODELS=/app/model_store/default \
    GLORE_DEVICE=cpu \
    HF_HOME=/tmp/hf \
    GLORE_CT2_CACHE=/tmp/ct2
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["glore", "serve", "--host", "0.0.0.0", "--port", "8000"]
