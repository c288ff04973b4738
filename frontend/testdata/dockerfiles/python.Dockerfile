# check=skip=JSONArgsRecommended;error=true
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=off \
    PIP_DISABLE_PIP_VERSION_CHECK=on
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --prefix=/install -r requirements.txt

FROM python:3.12-slim
LABEL org.opencontainers.image.source="https://example.com/app" \
      org.opencontainers.image.licenses=MIT
COPY --from=base /install /usr/local
COPY --chown=1000:1000 . /app
WORKDIR /app
USER 1000
VOLUME ["/app/data"]
STOPSIGNAL SIGINT
CMD gunicorn --bind 0.0.0.0:${PORT:-8000} app:app
