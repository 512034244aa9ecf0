# Wildcat's one image: the web tier, every Celery worker and beat run from it with different commands.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    WILDCAT_DATA_DIR=/data \
    WILDCAT_STATIC_ROOT=/app/staticfiles

# curl for health checks; tini reaps the session-host processes that sessions workers exec.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are baked into the image; the throwaway key only lets settings load at build time.
RUN WILDCAT_SECRET_KEY=build-only-not-a-secret-0123456789abcdef WILDCAT_DATA_DIR=/tmp/build \
    python manage.py collectstatic --noinput -v0 && rm -rf /tmp/build

RUN useradd --system --uid 1000 --home-dir /data wildcat && mkdir -p /data && chown -R wildcat /data
USER wildcat
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "wildcat.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
