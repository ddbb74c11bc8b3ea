# Cadence application image: web (gunicorn), Celery worker and Celery beat all run from it.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# uv pinned: the same resolver and lock format in every build.
RUN pip install --no-cache-dir uv==0.13.9 \
    && useradd --create-home --uid 1000 cadence

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN DJANGO_DEBUG=false CADENCE_SITE_URL=https://build.invalid DJANGO_SECRET_KEY=collectstatic-only DJANGO_STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --no-input

ENV DJANGO_STATIC_ROOT=/app/staticfiles
# Owned by the app user, so the named volume mounted here starts writable for it.
RUN mkdir -p /app/media && chown cadence /app/media
USER cadence
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
