# The one image of every app process in compose.yaml (web, realtime, worker, webhooks, beat, migrate).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/app/var

WORKDIR /app
COPY . .
# Editable: settings find templates/ and static/ next to the code (BASE_DIR), not in site-packages.
RUN pip install -e . \
    && useradd --system --home /app app \
    # Collected at build time, so every web container serves the same hashed files (WhiteNoise);
    # the key only satisfies settings here and is not kept.
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown app /app/var
USER app
EXPOSE 8000 8001
