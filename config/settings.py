"""Cadence settings: one module, driven by environment variables.

Every variable has a local default that works on a developer machine with Postgres and Redis on
their usual ports; production hardening switches on when DJANGO_DEBUG is off.
docs/configuration.md lists every variable.
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    # Lowest layer first (docs/architecture.md): each app imports only from those above it here.
    "core",
    "accounts",
    "crm",
    "visits",
    "health",
    "reports",
    "imports",
    "demo",
    "api",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
]

MIDDLEWARE = [
    "core.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # runserver serves static files in development; gunicorn relies on WhiteNoise.
    *([] if DEBUG else ["whitenoise.middleware.WhiteNoiseMiddleware"]),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "core.throttle.HeavyPageThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.http.HistoryRestoreMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# No inline scripts or styles anywhere (htmx's settings live in static/js/cadence.js), so the
# policy allows this site's own files only; frames are refused outright.
# Map tiles (docs/field.md): a URL template with {z}/{x}/{y} (and {s} subdomains if the server
# has them) and the attribution its licence asks for. The CSP lets images come from its host.
CADENCE_MAP_TILES = os.environ.get(
    "CADENCE_MAP_TILES", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
CADENCE_MAP_ATTRIBUTION = os.environ.get(
    "CADENCE_MAP_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)


def _tile_origin(template: str) -> str:
    parts = urlsplit(template.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *filter(None, [_tile_origin(CADENCE_MAP_TILES)])],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# Login throttling (django-axes): 5 failures lock out that username, and separately that client
# address, for 15 minutes; a successful login clears the count. Behind a proxy the client address
# comes from X-Forwarded-For (DJANGO_PROXY_COUNT proxies in front).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("CADENCE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Reverse proxies in front of Cadence that append to X-Forwarded-For (0: none).
DJANGO_PROXY_COUNT = int(os.environ.get("DJANGO_PROXY_COUNT", "0"))
AXES_IPWARE_PROXY_COUNT = DJANGO_PROXY_COUNT or None
# Without a proxy a client could forge X-Forwarded-For to dodge the address lockout.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.cadence",
            ],
        },
    },
]

# PostgreSQL's JIT compiles a plan whose estimated cost passes jit_above_cost: 20-800 ms spent
# compiling statements that then run in milliseconds (the refresh's per-customer lookups, the
# pages' counts). Cadence's statements are all short or batched, so it is off for its
# connections (CADENCE_DB_JIT=on to keep it). Behind PgBouncer, which refuses startup
# options, set it on the role instead: ALTER ROLE cadence SET jit = off.
DATABASE_JIT = env_bool("CADENCE_DB_JIT", False)


def _database(url: str) -> dict:
    database = dj_database_url.parse(
        url,
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    if not DATABASE_JIT:
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    return database


DATABASES = {
    "default": _database(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cadence")
    )
}

# A read replica for the managers' pages and exports (core/replica.py); unset, there is none.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = _database(os.environ["DATABASE_REPLICA_URL"])
    # Tests read the replica through the test database itself.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
CADENCE_REPLICA_READS = env_bool("CADENCE_REPLICA_READS", True)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Rendered schedule fragments and their generations (core/cache.py); fails open without Redis.
# Every key this installation keeps in Redis (cache, import progress, rate limits) starts with it.
CADENCE_CACHE_PREFIX = os.environ.get("CADENCE_CACHE_PREFIX", "cadence")
CACHES = {
    "default": {
        "BACKEND": "core.cache.FailOpenRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": CADENCE_CACHE_PREFIX,
        "TIMEOUT": 300,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_COOKIE_AGE", str(14 * 24 * 3600)))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / ".local" / "staticfiles"))
# Uploaded import files and their rejects files; web and workers must share this directory.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / ".local" / "media"))
IMPORT_MAX_BYTES = int(os.environ.get("CADENCE_IMPORT_MAX_MB", "50")) * 1024 * 1024
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# One currency for the whole installation; every amount is a Decimal in it.
CADENCE_CURRENCY = os.environ.get("CADENCE_CURRENCY", "EUR").upper()
# Reading an upload's shape (header, first rows) runs in a child process with these limits:
# a workbook that needs more (a compressed bomb, a 300 MB cell) is refused with the reason.
CADENCE_IMPORT_INSPECT_MB = int(os.environ.get("CADENCE_IMPORT_INSPECT_MB", "1024"))
CADENCE_IMPORT_INSPECT_SECONDS = int(os.environ.get("CADENCE_IMPORT_INSPECT_SECONDS", "120"))
# How often a worker running an import says it is alive; 8 missed beats and the job is given up.
CADENCE_IMPORT_HEARTBEAT_SECONDS = float(os.environ.get("CADENCE_IMPORT_HEARTBEAT_SECONDS", "15"))
# The most one visit's expenses may be (forms, services and imports refuse more).
CADENCE_MAX_VISIT_EXPENSES = int(os.environ.get("CADENCE_MAX_VISIT_EXPENSES", "10000"))

# The address people reach Cadence at, for links in e-mails (https://cadence.example.com);
# required in production (a system check says so).
CADENCE_SITE_URL = os.environ.get(
    "CADENCE_SITE_URL", "http://127.0.0.1:8000" if DEBUG else ""
).rstrip("/")

# Email through Django 6.1's MAILERS: SMTP when DJANGO_EMAIL_HOST names a server (set it to
# "localhost" for the machine's own MTA); without one, mail (the daily digest) is written to the
# log instead of failing every day against a server that is not there.
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": EMAIL_HOST or "localhost",
            "port": int(os.environ.get("DJANGO_EMAIL_PORT", "587" if EMAIL_HOST else "25")),
            "username": os.environ.get("DJANGO_EMAIL_HOST_USER", ""),
            "password": os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("DJANGO_EMAIL_USE_TLS", bool(EMAIL_HOST)),
            "timeout": 10,
        },
    }
    if EMAIL_HOST
    else {"BACKEND": "core.mail.LogEmailBackend"}
}
del EMAIL_HOST
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "cadence@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: JSON only, bounded run times, acknowledgements after the work so a killed worker's
# task is redelivered. The beat schedule lives here, next to the tasks' time limits.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# The queue tasks go to and workers read when none is named (several Cadence installations can
# share one Redis by giving each its own queue).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# Slow work has lanes of its own beside it, "<queue>.imports", "<queue>.webhooks" and
# "<queue>.nightly" (config.celery.route_task names the tasks), so a slow webhook receiver, a big
# import or the night's batches never hold up a refresh. A worker started with no --queues reads
# them all; scripts/run and docker-compose give webhooks and the night a worker each
# (docs/operations.md).
CADENCE_QUEUE_LANES = ("imports", "webhooks", "nightly")
CELERY_TASK_QUEUES = [
    Queue(name)
    for name in (
        CELERY_TASK_DEFAULT_QUEUE,
        *(f"{CELERY_TASK_DEFAULT_QUEUE}.{lane}" for lane in CADENCE_QUEUE_LANES),
    )
]
CELERY_TASK_ROUTES = ["config.celery.route_task"]
CELERY_RESULT_EXPIRES = timedelta(hours=6)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 25 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 20 * 60
# Tasks are acknowledged when they finish, so one whose worker was killed is delivered again:
# by Redis once it has gone unacknowledged this long, which is just above the longest task's
# hard time limit (25 min), so a task still running is never handed to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(
        os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(CELERY_TASK_TIME_LIMIT + 5 * 60))
    )
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The managers' and admin's pages over a whole territory or book (view names, fnmatch patterns)
# may hold at most this many of a web process's threads at once (gunicorn runs GUNICORN_THREADS,
# 4 by default: keep this at half), waiting this many seconds for one before answering "busy".
CADENCE_HEAVY_VIEWS = ["manage:*", "accounts:admin_home", "crm:customer_map_data"]
CADENCE_HEAVY_PAGES_PER_PROCESS = int(os.environ.get("CADENCE_HEAVY_PAGES_PER_PROCESS", "2"))
CADENCE_HEAVY_PAGE_WAIT = float(os.environ.get("CADENCE_HEAVY_PAGE_WAIT", "10"))
# Calendar-feed requests allowed per client address and per feed each minute.
CADENCE_FEED_REQUESTS_PER_MINUTE = int(os.environ.get("CADENCE_FEED_REQUESTS_PER_MINUTE", "30"))
# Customers per statement in every set-based job (health, monthly figures, due dates, imports'
# refresh, pending refreshes) and per task of the nightly fan-out (CADENCE_HEALTH_BATCH_SIZE
# before 2026-12).
CADENCE_BATCH_SIZE = int(os.environ.get("CADENCE_BATCH_SIZE", "10000"))
# Geocoding accounts' addresses (crm.geocoding): a geopy backend by name ("nominatim", the
# default, with OpenStreetMap's usage policy: one request a second and a real user agent), any
# other geopy backend with its options as JSON (e.g. CADENCE_GEOCODER=googlev3
# CADENCE_GEOCODER_OPTIONS='{"api_key": "..."}'), or "none": town centres only, offline.
CADENCE_GEOCODER = os.environ.get("CADENCE_GEOCODER", "nominatim").strip().lower()
CADENCE_GEOCODER_OPTIONS = json.loads(os.environ.get("CADENCE_GEOCODER_OPTIONS", "{}") or "{}")
CADENCE_GEOCODER_USER_AGENT = os.environ.get(
    "CADENCE_GEOCODER_USER_AGENT", "Cadence field-sales CRM (set CADENCE_GEOCODER_USER_AGENT)"
)
CADENCE_GEOCODER_SECONDS_BETWEEN = float(os.environ.get("CADENCE_GEOCODER_SECONDS_BETWEEN", "1"))
CADENCE_GEOCODER_TIMEOUT = float(os.environ.get("CADENCE_GEOCODER_TIMEOUT", "5"))
# The API (api/, docs/api.md): tokens or the browser's session; one error body; per-token limits.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.permissions.TokenScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PerTokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONObjectParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cadence API",
    "DESCRIPTION": "Customers, visits and their figures for integrations and the offline app.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from the installed sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CustomerStatusEnum": "crm.models.CustomerStatus",
        "VisitStatusEnum": "visits.models.VisitStatus",
        "VisitKindEnum": "visits.models.VisitKind",
        "OutcomeEnum": "visits.models.Outcome",
        "SupportCaseKindEnum": "crm.models.SupportCaseKind",
        "FlagKindEnum": "health.models.FlagKind",
        "AskKindEnum": "visits.models.AskKind",
        "AskAnswerKindEnum": "visits.models.AskAnswerKind",
        "QuoteOutcomeEnum": "visits.models.QuoteOutcome",
    },
}
# The consistency a salesperson aims for unless their manager sets another (percent of gaps
# between contacts within the account's cadence, over 12 months).
CADENCE_CONSISTENCY_TARGET = int(os.environ.get("CADENCE_CONSISTENCY_TARGET", "80"))
# Web Push (accounts.push): the VAPID private key (base64url, `manage.py vapid_key` makes one;
# empty: notifications are off and the page says so), the contact push services may write to,
# and the push services a device may subscribe through: host suffixes reached over https, or
# an exact origin (tests use a local stand-in). Anything else is refused, so a subscription
# can never make the server post to an address of the user's choosing.
CADENCE_VAPID_PRIVATE_KEY = os.environ.get("CADENCE_VAPID_PRIVATE_KEY", "")
CADENCE_VAPID_SUBJECT = os.environ.get("CADENCE_VAPID_SUBJECT", f"mailto:{DEFAULT_FROM_EMAIL}")
CADENCE_PUSH_SERVICES = env_list(
    "CADENCE_PUSH_SERVICES",
    "fcm.googleapis.com,android.googleapis.com,push.services.mozilla.com,push.apple.com,"
    "notify.windows.com",
)
CADENCE_API_REQUESTS_PER_MINUTE = int(os.environ.get("CADENCE_API_REQUESTS_PER_MINUTE", "600"))
# Seconds a webhook receiver has to answer one delivery (api.webhooks).
# Wrong API tokens one address may send a minute before it is answered 429 (no lookup).
CADENCE_API_FAILED_AUTH_PER_MINUTE = int(os.environ.get("CADENCE_API_FAILED_AUTH_PER_MINUTE", "30"))
CADENCE_WEBHOOK_TIMEOUT = float(os.environ.get("CADENCE_WEBHOOK_TIMEOUT", "5"))
# Seconds before a failed delivery's first retry; each later wait doubles (at most 6 hours).
CADENCE_WEBHOOK_FIRST_WAIT = float(os.environ.get("CADENCE_WEBHOOK_FIRST_WAIT", "30"))
# The day plan's travel times (visits.travel): straight-line distance times a road factor at an
# average speed, unless an OSRM server's table service is set (e.g. http://osrm:5000).
CADENCE_ROUTE_ROAD_FACTOR = float(os.environ.get("CADENCE_ROUTE_ROAD_FACTOR", "1.3"))
CADENCE_ROUTE_SPEED_KMH = float(os.environ.get("CADENCE_ROUTE_SPEED_KMH", "50"))
CADENCE_OSRM_URL = os.environ.get("CADENCE_OSRM_URL", "").strip()
CADENCE_OSRM_TIMEOUT = float(os.environ.get("CADENCE_OSRM_TIMEOUT", "3"))
# Each of the route's two solves stops searching after this many seconds (an ordinary day of
# 8 meetings and 20 candidates is solved in tens of milliseconds; docs/field.md).
CADENCE_ROUTE_SOLVE_SECONDS = float(os.environ.get("CADENCE_ROUTE_SOLVE_SECONDS", "0.5"))
# The most planned meetings one person's day may hold (a field rep's day is 5-12, an inside
# seller's call list can be long), and the first meetings of a day the route takes.
CADENCE_MAX_MEETINGS_PER_DAY = int(os.environ.get("CADENCE_MAX_MEETINGS_PER_DAY", "60"))
CADENCE_ROUTE_MAX_MEETINGS = int(os.environ.get("CADENCE_ROUTE_MAX_MEETINGS", "25"))

CELERY_BEAT_SCHEDULE = {
    # Every 10 minutes: place accounts that have an address and no location yet.
    "customers-geocode": {
        "task": "crm.tasks.customers_geocode_task",
        "schedule": crontab(minute="*/10"),
    },
    # 01:30 every night: account metrics and flags for every customer, as of that day.
    "health-refresh-nightly": {
        "task": "health.tasks.health_refresh_nightly",
        "schedule": crontab(hour=1, minute=30),
    },
    # Every 5 minutes: health refreshes that could not be queued while Redis was down.
    "health-refresh-pending": {
        "task": "health.tasks.health_refresh_pending",
        "schedule": crontab(minute="*/5"),
    },
    # 07:00 every morning: email owners and managers the flags raised since the last digest.
    "health-send-digests": {
        "task": "health.tasks.health_send_digests",
        "schedule": crontab(hour=7, minute=0),
    },
    # Every 5 minutes: morning e-mails whose morning (07:00, the user's time zone) has come.
    "reminders-send": {
        "task": "visits.tasks.reminders_send_task",
        "schedule": crontab(minute="*/5"),
    },
    # Hourly: asks whose due date passed unanswered, announced once each (webhook ask.overdue).
    "asks-overdue": {
        "task": "visits.tasks.asks_overdue_task",
        "schedule": crontab(minute=15),
    },
    # 02:00 every night: every customer's last visit and next due date, from the visits.
    "customers-refresh-cadence": {
        "task": "visits.tasks.customers_refresh_cadence",
        "schedule": crontab(hour=2, minute=0),
    },
    # 02:15 every night: what came of the managers' actions, stored for Outcomes.
    "outcomes-measure": {
        "task": "reports.tasks.outcomes_measure_task",
        "schedule": crontab(hour=2, minute=15),
    },
    # 03:30 every night: drop expired login sessions (Django's clearsessions, as a job).
    "sessions-clear-expired": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=30),
    },
    # 03:40 every night: forget the one-time keys of forms sent more than a week ago.
    "form-submissions-forget": {
        "task": "core.tasks.form_submissions_forget_task",
        "schedule": crontab(hour=3, minute=40),
    },
    # 03:45 every night: the API's kept answers to idempotent writes, after a day.
    "idempotent-requests-forget": {
        "task": "api.tasks.idempotent_requests_forget_task",
        "schedule": crontab(hour=3, minute=45),
    },
    # Every 5 minutes: webhook deliveries whose task was lost while Redis was down.
    "webhook-deliveries-sweep": {
        "task": "api.tasks.webhook_deliveries_sweep_task",
        "schedule": crontab(minute="*/5"),
    },
    # 03:50 every night: uploaded files no import refers to any more.
    "import-files-clean": {
        "task": "imports.tasks.import_files_clean_task",
        "schedule": crontab(hour=3, minute=50),
    },
    # Every 30 seconds: imports whose worker stopped, sent again for a live worker to take over.
    "imports-stalled-reclaim": {
        "task": "imports.tasks.imports_stalled_reclaim_task",
        "schedule": timedelta(seconds=30),
    },
}

# DJANGO_LOG_FORMAT=json: one JSON object per line (for a log collector); plain otherwise. Every
# line of a request carries its id (also sent back as X-Request-ID).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "()": "core.observability.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "core.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("DJANGO_LOG_FORMAT") == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The access line of every request; DJANGO_ACCESS_LOG=false leaves it to the proxy.
        "cadence.access": {"level": "INFO" if env_bool("DJANGO_ACCESS_LOG", True) else "WARNING"},
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
