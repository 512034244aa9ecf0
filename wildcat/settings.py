"""Wildcat settings: everything comes from the environment through wildcat.env helpers."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from wildcat.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("WILDCAT_DATA_DIR", str(BASE_DIR / "data"))).resolve()
# It holds the database, session stores, media and generated keys: only this user may enter it.
# An existing folder keeps its mode (an operator may have mounted it on purpose).
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

DEBUG = env_bool("WILDCAT_DEBUG", False)
SECRET_KEY = env_str("WILDCAT_SECRET_KEY")
if not SECRET_KEY and (DATA_DIR / "secret_key").is_file():
    # The key `make run` generated and keeps in the data folder, so manage.py commands run beside
    # it (createapikey, changepassword) share it without exporting anything.
    SECRET_KEY = (DATA_DIR / "secret_key").read_text().strip()
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "insecure-development-only-key"  # noqa: S105 - refused outside debug by wildcat.checks
ALLOWED_HOSTS = env_list("WILDCAT_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("WILDCAT_CSRF_TRUSTED_ORIGINS")
PUBLIC_URL = env_str("WILDCAT_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files: the docs work offline
    "wildcat",
    "apikeys",
    "accounts",
    "messaging",
    "webhooks",
    "console",
]

MIDDLEWARE = [
    "wildcat.observability.RequestContextMiddleware",
    "wildcat.audit.AuditContextMiddleware",
    "wildcat.api.middleware.ApiExceptionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "wildcat.api.limits.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wildcat.urls"
WSGI_APPLICATION = "wildcat.wsgi.application"
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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'wildcat.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("WILDCAT_DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers, beat and session hosts write at once: WAL plus a long busy timeout.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("WILDCAT_TEST_SQLITE", str(DATA_DIR / "test.sqlite3"))}
else:
    # A health check costs a round trip on the first query of every request. Without it, a request
    # that meets a connection PostgreSQL dropped answers 503 once and Django reconnects after it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("WILDCAT_DB_HEALTH_CHECKS", False)
    DATABASES["default"]["TEST"] = {"NAME": env_str("WILDCAT_TEST_DB", "test_wildcat")}
    if env_bool("WILDCAT_DB_PREPARED_STATEMENTS", True):
        # Allowed on the connection, but never automatic: only statements executed with prepare=True
        # (the send path's INSERT) are prepared; Django's client-side binding cursors never are.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery broker ---------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "wildcat",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    # Embedded default: a cache and a broker that work across processes without any server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    CELERY_BROKER_URL = "filesystem://"

CELERY_TASK_SOFT_TIME_LIMIT = env_int("WILDCAT_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
CELERY_TASK_ALWAYS_EAGER = env_bool("WILDCAT_CELERY_EAGER", False)
# Session hosts are supervised from a worker's main process, which only an in-process pool allows, so a
# plain `celery -A wildcat worker` can host sessions. Celery lets a configured pool win over `-P prefork`
# (the CLI default), so another pool is chosen here: WILDCAT_WORKER_POOL=prefork.
CELERY_WORKER_POOL = env_str("WILDCAT_WORKER_POOL", "threads")

# --- Auth, API ------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

WILDCAT_API_RATE = env_str("WILDCAT_API_RATE", "1200/min")
# Failed authentications per client address; past it, that address's failing attempts answer 429.
WILDCAT_AUTH_FAILURE_RATE = env_str("WILDCAT_AUTH_FAILURE_RATE", "30/min")
WILDCAT_API_KEY_CACHE_SECONDS = env_int("WILDCAT_API_KEY_CACHE_SECONDS", 300, minimum=1)
WILDCAT_API_LAST_USED_SECONDS = env_int("WILDCAT_API_LAST_USED_SECONDS", 60, minimum=1)
WILDCAT_API_USAGE_FLUSH_SECONDS = env_int("WILDCAT_API_USAGE_FLUSH_SECONDS", 30, minimum=1)
WILDCAT_WORKER_FRESH_SECONDS = env_int("WILDCAT_WORKER_FRESH_SECONDS", 30, minimum=1)
WILDCAT_MAX_PAGE_SIZE = env_int("WILDCAT_MAX_PAGE_SIZE", 200, minimum=1)
WILDCAT_DEFAULT_PAGE_SIZE = env_int("WILDCAT_DEFAULT_PAGE_SIZE", 50, minimum=1)
WILDCAT_MAX_BODY_BYTES = env_int("WILDCAT_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
WILDCAT_MAX_MEDIA_BYTES = env_int("WILDCAT_MAX_MEDIA_BYTES", 16 * 1024 * 1024, minimum=1024)
WILDCAT_MAX_CONNECTIONS_PER_KEY = env_int("WILDCAT_MAX_CONNECTIONS_PER_KEY", 50, minimum=1)
WILDCAT_MAX_WEBHOOKS_PER_KEY = env_int("WILDCAT_MAX_WEBHOOKS_PER_KEY", 20, minimum=1)
WILDCAT_RETENTION_DAYS = env_int("WILDCAT_RETENTION_DAYS", 0, minimum=0)  # 0 keeps everything
WILDCAT_WEBHOOK_ALLOWED_NETWORKS = env_list("WILDCAT_WEBHOOK_ALLOWED_NETWORKS")
WILDCAT_OUTBOUND_TIMEOUT = env_float("WILDCAT_OUTBOUND_TIMEOUT", 15.0)

# --- Webhooks (webhooks/) and secrets at rest ---------------------------------------------------
WILDCAT_WEBHOOK_TIMEOUT = env_float("WILDCAT_WEBHOOK_TIMEOUT", WILDCAT_OUTBOUND_TIMEOUT)
# Multiplies the retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); tests shrink it.
WILDCAT_WEBHOOK_RETRY_SCALE = env_float("WILDCAT_WEBHOOK_RETRY_SCALE", 1.0)
WILDCAT_WEBHOOK_RETRY_AFTER_MAX_SECONDS = env_int("WILDCAT_WEBHOOK_RETRY_AFTER_MAX_SECONDS", 86_400, minimum=0)
WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86_400, minimum=1)
WILDCAT_WEBHOOK_ROTATION_GRACE_SECONDS = env_int("WILDCAT_WEBHOOK_ROTATION_GRACE_SECONDS", 86_400, minimum=0)
WILDCAT_WEBHOOK_SWEEP_SECONDS = env_float("WILDCAT_WEBHOOK_SWEEP_SECONDS", 5.0)
# How long "this key has no endpoint for this event type" is remembered (0 = always ask the database).
WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS = env_float("WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS", 10.0)
WILDCAT_WEBHOOK_REDISPATCH_SECONDS = env_float("WILDCAT_WEBHOOK_REDISPATCH_SECONDS", 60.0)
WILDCAT_WEBHOOK_CLAIM_SECONDS = env_float("WILDCAT_WEBHOOK_CLAIM_SECONDS", WILDCAT_WEBHOOK_TIMEOUT + 60.0)
WILDCAT_WEBHOOK_SWEEP_BATCH = env_int("WILDCAT_WEBHOOK_SWEEP_BATCH", 500, minimum=1)
# A woken webhooks worker drains due deliveries: claimed this many at a time, posted by this many
# threads, for up to this many seconds before it hands over to a fresh wake-up.
WILDCAT_WEBHOOK_DRAIN_BATCH = env_int("WILDCAT_WEBHOOK_DRAIN_BATCH", 64, minimum=1)
WILDCAT_WEBHOOK_DRAIN_THREADS = env_int("WILDCAT_WEBHOOK_DRAIN_THREADS", 8, minimum=1)
WILDCAT_WEBHOOK_DRAIN_SECONDS = env_float("WILDCAT_WEBHOOK_DRAIN_SECONDS", 30.0)
# Fernet keys for secrets stored in the database, newest first; separate from SECRET_KEY so
# rotating SECRET_KEY never breaks them. Outside production an empty value means a key file
# generated in WILDCAT_DATA_DIR.
WILDCAT_ENCRYPTION_KEY = env_str("WILDCAT_ENCRYPTION_KEY")

# --- Session runtime (accounts/runtime): leases, reconciler, session hosts -------------------
WILDCAT_LEASE_TTL_SECONDS = env_float("WILDCAT_LEASE_TTL_SECONDS", 8.0)
WILDCAT_LEASE_RENEW_SECONDS = env_float("WILDCAT_LEASE_RENEW_SECONDS", 2.0)
WILDCAT_RECONCILE_SECONDS = env_float("WILDCAT_RECONCILE_SECONDS", 2.0)
WILDCAT_ZOMBIE_SECONDS = env_float("WILDCAT_ZOMBIE_SECONDS", 180.0)
# A session that should run but stays disconnected this long is restarted (whatsmeow gives up on some).
WILDCAT_DISCONNECTED_RESTART_SECONDS = env_float("WILDCAT_DISCONNECTED_RESTART_SECONDS", 300.0)
WILDCAT_SESSION_POLL_SECONDS = env_float("WILDCAT_SESSION_POLL_SECONDS", 0.5)
WILDCAT_SESSION_SAFETY_POLL_SECONDS = env_float("WILDCAT_SESSION_SAFETY_POLL_SECONDS", 5.0)
WILDCAT_SESSIONS_PER_HOST = env_int("WILDCAT_SESSIONS_PER_HOST", 1, minimum=1)
WILDCAT_SANDBOX_SESSIONS_PER_HOST = env_int("WILDCAT_SANDBOX_SESSIONS_PER_HOST", 500, minimum=1)
WILDCAT_MAX_SESSIONS_PER_WORKER = env_int("WILDCAT_MAX_SESSIONS_PER_WORKER", 500, minimum=1)
WILDCAT_HOST_HANG_SECONDS = env_float("WILDCAT_HOST_HANG_SECONDS", 60.0)
WILDCAT_HOST_RESTART_BACKOFF_MAX = env_float("WILDCAT_HOST_RESTART_BACKOFF_MAX", 30.0)
WILDCAT_SPARE_HOSTS = env_int("WILDCAT_SPARE_HOSTS", 1, minimum=0)

# --- WhatsApp driver (neonize): timers of the real driver --------------------------------------
# After whatsmeow's last QR code expires, how long to wait before reporting qr_timeout.
WILDCAT_NEONIZE_QR_GRACE_SECONDS = env_float("WILDCAT_NEONIZE_QR_GRACE_SECONDS", 15.0)
# A fresh login that shows no first QR code within this long ends as qr_timeout (a dial that hangs).
WILDCAT_NEONIZE_FIRST_QR_SECONDS = env_float("WILDCAT_NEONIZE_FIRST_QR_SECONDS", 60.0)
# A failed dial is retried in a fresh session host after 5, 10, 30 s…, never waiting longer than this.
WILDCAT_NEONIZE_CONNECT_RETRY_MAX_SECONDS = env_float("WILDCAT_NEONIZE_CONNECT_RETRY_MAX_SECONDS", 60.0)
# Presence and group traffic counts as keepalive at most this often (each one touches the database).
WILDCAT_NEONIZE_KEEPALIVE_MIN_SECONDS = env_float("WILDCAT_NEONIZE_KEEPALIVE_MIN_SECONDS", 10.0)
# Longest wait for one media upload or download (whatsmeow's have no timeout of their own).
WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS = env_float("WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS", 120.0)

# --- Connections (accounts): commands and the sandbox phone ---------------------------------
WILDCAT_CONNECTION_NAME_MAX = env_int("WILDCAT_CONNECTION_NAME_MAX", 100, minimum=1)
WILDCAT_COMMAND_WAIT_SECONDS = env_float("WILDCAT_COMMAND_WAIT_SECONDS", 10.0)
WILDCAT_COMMAND_POLL_SECONDS = env_float("WILDCAT_COMMAND_POLL_SECONDS", 0.1)
WILDCAT_COMMAND_MAX_ATTEMPTS = env_int("WILDCAT_COMMAND_MAX_ATTEMPTS", 20, minimum=1)
WILDCAT_COMMAND_STALE_SECONDS = env_float("WILDCAT_COMMAND_STALE_SECONDS", 60.0)
WILDCAT_SANDBOX_QR_FIRST_SECONDS = env_float("WILDCAT_SANDBOX_QR_FIRST_SECONDS", 60.0)
WILDCAT_SANDBOX_QR_NEXT_SECONDS = env_float("WILDCAT_SANDBOX_QR_NEXT_SECONDS", 20.0)
WILDCAT_SANDBOX_QR_CODES = env_int("WILDCAT_SANDBOX_QR_CODES", 6, minimum=1)
WILDCAT_SANDBOX_CONNECT_SECONDS = env_float("WILDCAT_SANDBOX_CONNECT_SECONDS", 0.5)
WILDCAT_SANDBOX_DELIVERED_SECONDS = env_float("WILDCAT_SANDBOX_DELIVERED_SECONDS", 0.3)
WILDCAT_SANDBOX_READ_SECONDS = env_float("WILDCAT_SANDBOX_READ_SECONDS", 1.0)
WILDCAT_SANDBOX_KEEPALIVE_SECONDS = env_float("WILDCAT_SANDBOX_KEEPALIVE_SECONDS", 30.0)
WILDCAT_SANDBOX_BAN_SECONDS = env_float("WILDCAT_SANDBOX_BAN_SECONDS", 60.0)

# --- Messaging (messaging/): pacing, retries, limits -----------------------------------------
# Default sends per minute per connection (a connection's own send_rate_per_minute wins); 0 = no pacing.
WILDCAT_SEND_RATE_PER_MINUTE = env_int("WILDCAT_SEND_RATE_PER_MINUTE", 20, minimum=0)
WILDCAT_SEND_JITTER = env_float("WILDCAT_SEND_JITTER", 0.3)  # +/- fraction of the paced interval
WILDCAT_SEND_MAX_ATTEMPTS = env_int("WILDCAT_SEND_MAX_ATTEMPTS", 8, minimum=1)
WILDCAT_SEND_RETRY_BASE_SECONDS = env_float("WILDCAT_SEND_RETRY_BASE_SECONDS", 5.0)
WILDCAT_SEND_RETRY_MAX_SECONDS = env_float("WILDCAT_SEND_RETRY_MAX_SECONDS", 900.0)
WILDCAT_OUTBOX_BATCH = env_int("WILDCAT_OUTBOX_BATCH", 100, minimum=1)
WILDCAT_OUTBOX_TIME_BUDGET = env_float("WILDCAT_OUTBOX_TIME_BUDGET", 0.5)
WILDCAT_MAX_TEXT_LENGTH = env_int("WILDCAT_MAX_TEXT_LENGTH", 65536, minimum=1)
WILDCAT_MAX_CAPTION_LENGTH = env_int("WILDCAT_MAX_CAPTION_LENGTH", 1024, minimum=1)
WILDCAT_MAX_CHECK_NUMBERS = env_int("WILDCAT_MAX_CHECK_NUMBERS", 50, minimum=1)
WILDCAT_MEDIA_FETCH_TIMEOUT = env_float("WILDCAT_MEDIA_FETCH_TIMEOUT", 20.0)
# Media URLs are fetched inside the API request: cap how many web workers slow URLs can occupy.
WILDCAT_MEDIA_FETCH_MAX_CONCURRENT = env_int("WILDCAT_MEDIA_FETCH_MAX_CONCURRENT", 2, minimum=1)
WILDCAT_MEDIA_FETCH_MAX_CONCURRENT_PER_KEY = env_int("WILDCAT_MEDIA_FETCH_MAX_CONCURRENT_PER_KEY", 1, minimum=1)
WILDCAT_SESSION_CALL_TIMEOUT = env_float("WILDCAT_SESSION_CALL_TIMEOUT", 15.0)
WILDCAT_RETENTION_SWEEP_SECONDS = env_float("WILDCAT_RETENTION_SWEEP_SECONDS", 3600.0)
WILDCAT_SEND_CONNECTION_CACHE_SECONDS = env_float("WILDCAT_SEND_CONNECTION_CACHE_SECONDS", 2.0)

# Multipart uploads and JSON bodies: media may be larger than an ordinary body.
DATA_UPLOAD_MAX_MEMORY_SIZE = WILDCAT_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON objects only; the message send adds multipart for uploads. Anything else is a 415.
    "DEFAULT_PARSER_CLASSES": ["wildcat.api.parsers.JsonObjectParser"],
    "DEFAULT_PAGINATION_CLASS": "wildcat.api.pagination.CreatedCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "wildcat.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "wildcat.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The API takes JSON (uploads say format="multipart"): DRF's test client sends JSON unless told.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wildcat API",
    "DESCRIPTION": "Self-hosted WhatsApp HTTP gateway.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ConnectionStatusEnum": "accounts.models.WaConnection.Status",
        "ConnectionPresenceEnum": "accounts.models.WaConnection.Presence",
        "SessionCommandStatusEnum": "accounts.models.SessionCommand.Status",
        "MessageTypeEnum": "wildcat.whatsapp.MessageType",
        "WebhookEventTypeEnum": "wildcat.event_types.EVENT_TYPE_VALUES",
        "WebhookDeliveryStatusEnum": "webhooks.models.WebhookDelivery.Status",
    },
}

# --- CORS: nothing is allowed unless listed --------------------------------
CORS_ALLOWED_ORIGINS = env_list("WILDCAT_CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

# --- Security ------------------------------------------------------------------
# WILDCAT_PRODUCTION=true turns on everything `manage.py check --deploy` asks for; each piece can
# still be set on its own. The embedded `make run` is not production (plain HTTP on localhost).
PRODUCTION = env_bool("WILDCAT_PRODUCTION", False)
BEHIND_TLS_PROXY = env_bool("WILDCAT_BEHIND_TLS_PROXY", PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("WILDCAT_SSL_REDIRECT", PRODUCTION)
# Probes and scrapers talk plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("WILDCAT_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("WILDCAT_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("WILDCAT_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("WILDCAT_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Files -------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("WILDCAT_STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start-up before the first collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("WILDCAT_MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media-files/"
STORAGES = {
    "default": {"BACKEND": env_str("WILDCAT_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["wildcat.formats"]  # times to the second in the console

# --- Logging: JSON lines carrying the request id -----------------------------
LOG_LEVEL = env_str("WILDCAT_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "wildcat.observability.RequestContextFilter"}},
    "formatters": {"json": {"()": "wildcat.observability.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "whatsmeow": {"level": "WARNING"},
        "Whatsmeow": {"level": "WARNING"},
    },
}

os.environ.setdefault("WILDCAT_DATA_DIR", str(DATA_DIR))
