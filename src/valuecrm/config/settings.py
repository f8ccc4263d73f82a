"""ValueCRM settings: one file, driven by environment variables.

VALUECRM_DATA_DIR   where the SQLite database, Huey queue and uploads live (default ./var)
DATABASE_URL        e.g. postgres://user:pw@host/db; default is SQLite (WAL) in the data dir
VALUECRM_DEBUG      1 turns on Django's debug pages (never on a server reachable by others)
VALUECRM_SECRET_KEY signing key; when unset, one is generated once and kept in
                    DATA_DIR/secret_key (mode 0600)
VALUECRM_TLS        1 behind HTTPS: Secure cookies, HSTS, redirect to https, and trust the
                    proxy's X-Forwarded-Proto (VALUECRM_HSTS_SECONDS, default one year)
VALUECRM_PROXY_COUNT  reverse proxies in front of the app (default 0); the client address
                    for login throttling is taken that many hops from the right of
                    X-Forwarded-For, so a client cannot spoof it
VALUECRM_SESSION_HOURS  how long a sign-in lasts (default 12)
VALUECRM_LOGIN_FAILURE_LIMIT  failed sign-ins from one address before it is locked (default 10)
VALUECRM_LOGIN_USER_FAILURE_LIMIT  failed sign-ins for one username, from anywhere, before
                    that username is locked (default 50)
VALUECRM_LOCKOUT_MINUTES  how long a lock lasts (default 15)
VALUECRM_MFA_REQUIRED_ROLES  roles that must use a one-time code (default "admin"; superusers
                    always count as admins); the others may enrol if they want to
VALUECRM_EMAIL_*    outgoing mail for password resets (HOST, PORT, USER, PASSWORD, TLS, FROM);
                    without a host, mails are written to DATA_DIR/mail
VALUECRM_CURRENCY   default CNY
VALUECRM_TIME_ZONE  default Asia/Shanghai
VALUECRM_IMPORT_FILE_RETENTION_DAYS  days an uploaded import file is kept after the import
                    ends (default 30; the run, its counts and failed rows are kept)
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from valuecrm.config import secret_key

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("VALUECRM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = os.environ.get("VALUECRM_DEBUG", "0") == "1"
SECRET_KEY = os.environ.get("VALUECRM_SECRET_KEY") or secret_key.load_or_create(DATA_DIR)
ALLOWED_HOSTS = os.environ.get("VALUECRM_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("VALUECRM_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "huey.contrib.djhuey",
    "valuecrm.common",
    "valuecrm.accounts",
    "valuecrm.customers",
    "valuecrm.orders",
    "valuecrm.insights",
    "valuecrm.imports",
    "valuecrm.duplicates",
    "valuecrm.exports",
    "valuecrm.webhooks",
    # Migration history only (the app was split into the three above).
    "valuecrm.integrations",
    "valuecrm.privacy",
    "valuecrm.automation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # 413 for an oversized body, 400 for JSON nested too deep: before anything reads it.
    "valuecrm.common.http.RequestLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "valuecrm.accounts.middleware.MfaRequiredMiddleware",
    "valuecrm.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "valuecrm.common.busy.DatabaseBusyMiddleware",
    "valuecrm.common.events.middleware.EventOriginMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "valuecrm.config.urls"
WSGI_APPLICATION = "valuecrm.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "valuecrm.common.context_processors.ui",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

_default_sqlite = f"sqlite:///{DATA_DIR / 'valuecrm.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default_sqlite))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids
    # "database is locked" upgrades from read to write inside a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA cache_size=-64000; PRAGMA temp_store=MEMORY;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out client before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
# Thousands grouping for 中文 too (valuecrm/formats/zh_Hans/formats.py).
FORMAT_MODULE_PATH = "valuecrm.formats"
USE_TZ = True
TIME_ZONE = os.environ.get("VALUECRM_TIME_ZONE", "Asia/Shanghai")
VALUECRM_CURRENCY = os.environ.get("VALUECRM_CURRENCY", "CNY")
VALUECRM_PHONE_REGION = os.environ.get("VALUECRM_PHONE_REGION", "CN")
VALUECRM_IMPORT_FILE_RETENTION_DAYS = int(os.environ.get("VALUECRM_IMPORT_FILE_RETENTION_DAYS", "30"))
# Days an automation run-log row is kept (VALUECRM_AUTOMATION_RUN_RETENTION_DAYS, default 30).
VALUECRM_AUTOMATION_RUN_RETENTION_DAYS = int(os.environ.get("VALUECRM_AUTOMATION_RUN_RETENTION_DAYS", "30"))

# --- Sign-in and transport security -------------------------------------------------------
SESSION_COOKIE_AGE = int(float(os.environ.get("VALUECRM_SESSION_HOURS", "12")) * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
# Sessions live in files in the data dir, not in the database: signing in or opening a
# page must not wait for the database's write lock while an import runs.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "sessions"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "sessions": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "sessions"),
        "TIMEOUT": None,  # each session carries its own expiry (SESSION_COOKIE_AGE)
        # The file cache culls a third of its entries when full: keep it far from full.
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    },
}
VALUECRM_TLS = os.environ.get("VALUECRM_TLS", "0") == "1"
if VALUECRM_TLS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("VALUECRM_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("VALUECRM_HSTS_SUBDOMAINS", "1") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("VALUECRM_HSTS_PRELOAD", "1") == "1"
    # The TLS-terminating proxy says whether the browser used https; it must overwrite
    # (never pass through) this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

VALUECRM_PROXY_COUNT = int(os.environ.get("VALUECRM_PROXY_COUNT", "0"))

# django-axes: a client address is locked after LOGIN_FAILURE_LIMIT failures, a username
# (from any address) only after the much higher LOGIN_USER_FAILURE_LIMIT, so one attacker
# is stopped long before they can lock a real user out (accounts/lockout.py).
AXES_HANDLER = "valuecrm.accounts.lockout.LockoutHandler"
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_FAILURE_LIMIT = int(os.environ.get("VALUECRM_LOGIN_FAILURE_LIMIT", "10"))
VALUECRM_LOGIN_USER_FAILURE_LIMIT = int(os.environ.get("VALUECRM_LOGIN_USER_FAILURE_LIMIT", "50"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("VALUECRM_LOCKOUT_MINUTES", "15")))
AXES_CLIENT_IP_CALLABLE = "valuecrm.accounts.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "valuecrm.accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Roles that must sign in with a one-time code (superusers always); others may opt in.
VALUECRM_MFA_REQUIRED_ROLES = frozenset(
    r.strip() for r in os.environ.get("VALUECRM_MFA_REQUIRED_ROLES", "admin").split(",") if r.strip()
)
OTP_TOTP_ISSUER = "ValueCRM"

# Content-Security-Policy: scripts only from our own static files (no inline script, no
# eval). Styles allow inline `style` attributes, which the UI kit and charts set.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Password reset mails.
EMAIL_HOST = os.environ.get("VALUECRM_EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("VALUECRM_EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("VALUECRM_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("VALUECRM_EMAIL_PASSWORD", "")
    EMAIL_USE_TLS = os.environ.get("VALUECRM_EMAIL_TLS", "1") == "1"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = os.environ.get("VALUECRM_EMAIL_FROM", "ValueCRM <noreply@localhost>")
PASSWORD_RESET_TIMEOUT = 3600 * 2

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"

HUEY = {
    "name": "valuecrm",
    "huey_class": "huey.SqliteHuey",
    "filename": str(DATA_DIR / "huey.sqlite3"),
    "immediate": os.environ.get("VALUECRM_HUEY_IMMEDIATE", "0") == "1",
    "consumer": {"workers": 2, "worker_type": "thread"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("VALUECRM_LOG_LEVEL", "WARNING")},
}

# --- Backups (valuecrm.backups; docs/operations.md) ----------------------------------------
# VALUECRM_BACKUP_DIR          where the nightly backups go (default DATA_DIR/backups)
# VALUECRM_BACKUP_KEEP         how many nightly backups to keep (default 7)
# VALUECRM_BACKUP_HOUR         the hour, site time, of the nightly backup (default 3)
# VALUECRM_BACKUP_NIGHTLY      0 turns the nightly backup off (default 1)
# VALUECRM_BACKUP_PASSPHRASE   encrypt backups with this passphrase (or put it in the file
#                              named by VALUECRM_BACKUP_PASSPHRASE_FILE)
INSTALLED_APPS += ["valuecrm.backups"]
VALUECRM_BACKUP_DIR = Path(os.environ.get("VALUECRM_BACKUP_DIR") or DATA_DIR / "backups")
VALUECRM_BACKUP_KEEP = int(os.environ.get("VALUECRM_BACKUP_KEEP", "7"))
VALUECRM_BACKUP_HOUR = int(os.environ.get("VALUECRM_BACKUP_HOUR", "3"))
VALUECRM_BACKUP_NIGHTLY = os.environ.get("VALUECRM_BACKUP_NIGHTLY", "1") == "1"
VALUECRM_BACKUP_PASSPHRASE = os.environ.get("VALUECRM_BACKUP_PASSPHRASE", "")
if not VALUECRM_BACKUP_PASSPHRASE and os.environ.get("VALUECRM_BACKUP_PASSPHRASE_FILE"):
    VALUECRM_BACKUP_PASSPHRASE = Path(os.environ["VALUECRM_BACKUP_PASSPHRASE_FILE"]).read_text().strip()

# --- Production profile (docs/deploy.md): selected by environment variables only ----------
# VALUECRM_REDIS_URL       redis://host:6379/0 → Huey's queue, the cache and sessions in Redis,
#                          so any number of app and worker processes share them
# VALUECRM_WORKERS         worker threads per `valuecrm worker` process (default 2)
# VALUECRM_STORAGE_DIR     uploads (import files, media) — a path every app process and worker
#                          sees, e.g. a shared volume (default DATA_DIR)
# VALUECRM_LOCK_DIR        job-lock files on SQLite (PostgreSQL uses advisory locks)
# VALUECRM_SCORING_ENGINE  where scoring computes the BTYD summary: database (default), duckdb or spark
# VALUECRM_SPARK_MASTER    Spark master for --engine spark: local[2] (default), spark://host:7077, yarn,
#                          or a Spark Connect URL sc://host:15002
# VALUECRM_ENGINE_THREADS  threads the warehouse engine may use (default: all cores)
VALUECRM_REDIS_URL = os.environ.get("VALUECRM_REDIS_URL", "")
VALUECRM_STORAGE_DIR = (Path(os.environ["VALUECRM_STORAGE_DIR"]).resolve()
                        if os.environ.get("VALUECRM_STORAGE_DIR") else None)  # None: DATA_DIR
MEDIA_ROOT = (VALUECRM_STORAGE_DIR or DATA_DIR) / "media"
VALUECRM_LOCK_DIR = Path(os.environ["VALUECRM_LOCK_DIR"]).resolve() if os.environ.get("VALUECRM_LOCK_DIR") else None
VALUECRM_SCORING_ENGINE = os.environ.get("VALUECRM_SCORING_ENGINE", "database")
VALUECRM_ENGINE_THREADS = int(os.environ.get("VALUECRM_ENGINE_THREADS", "0")) or None
VALUECRM_SPARK_MASTER = os.environ.get("VALUECRM_SPARK_MASTER", "local[2]")
HUEY["consumer"]["workers"] = int(os.environ.get("VALUECRM_WORKERS", "2"))
if VALUECRM_REDIS_URL:
    HUEY.pop("filename")
    HUEY.update({"huey_class": "huey.RedisHuey", "url": VALUECRM_REDIS_URL})
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": VALUECRM_REDIS_URL, "KEY_PREFIX": "valuecrm"},
        "sessions": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                     "LOCATION": VALUECRM_REDIS_URL, "KEY_PREFIX": "valuecrm-session", "TIMEOUT": None},
    }

# --- Service: tickets and SLAs (valuecrm.service) -------------------------------------------
INSTALLED_APPS += ["valuecrm.service"]
# New tickets without an assignee go to the active support agent with the fewest open tickets.
VALUECRM_SERVICE_AUTO_ASSIGN = os.environ.get("VALUECRM_SERVICE_AUTO_ASSIGN", "1") == "1"
# Tier-A and at-risk customers' tickets come first in the queue (the reason is shown).
VALUECRM_SERVICE_QUEUE_BOOST = os.environ.get("VALUECRM_SERVICE_QUEUE_BOOST", "1") == "1"
# The domain of the Message-IDs of outgoing replies (customers' replies thread on them).
VALUECRM_SERVICE_MAIL_DOMAIN = os.environ.get("VALUECRM_SERVICE_MAIL_DOMAIN", "valuecrm.local")
# Surveys: at most one per customer per this many days; links stay valid this many days.
VALUECRM_SURVEY_MIN_DAYS = int(os.environ.get("VALUECRM_SURVEY_MIN_DAYS", "30"))
VALUECRM_SURVEY_VALID_DAYS = int(os.environ.get("VALUECRM_SURVEY_VALID_DAYS", "14"))
# Negative feedback (sentiment at most this, label negative) from a customer in these value
# tiers raises a "negative feedback" value alert.
VALUECRM_FEEDBACK_ALERT_SCORE = float(os.environ.get("VALUECRM_FEEDBACK_ALERT_SCORE", "0.3"))
VALUECRM_FEEDBACK_ALERT_TIERS = os.environ.get("VALUECRM_FEEDBACK_ALERT_TIERS", "A")
# ---------------------------------------------------------------- loyalty (valuecrm.loyalty)
# VALUECRM_LOYALTY_HOUR   the hour, site time, of the nightly escrow release, expiry and tier review (default 2)
INSTALLED_APPS += ["valuecrm.loyalty"]
VALUECRM_LOYALTY_HOUR = int(os.environ.get("VALUECRM_LOYALTY_HOUR", "2"))
# ---------------------------------------------------------------- deals (pipelines, forecast, 公海 pool)
INSTALLED_APPS += ["valuecrm.deals"]
# Hour (local time) of the nightly win-model retraining and pool reclaim sweep.
VALUECRM_DEALS_NIGHTLY_HOUR = int(os.environ.get("VALUECRM_DEALS_NIGHTLY_HOUR", "2"))

# ---------------------------------------------------------------- marketing (valuecrm.marketing)
INSTALLED_APPS += ["valuecrm.marketing"]
VALUECRM_BASE_URL = os.environ.get("VALUECRM_BASE_URL", "http://127.0.0.1:8000")
# Campaign e-mail: a separate SMTP relay (host empty = the site's e-mail backend above).
VALUECRM_MARKETING_SMTP = {
    "host": os.environ.get("VALUECRM_MARKETING_SMTP_HOST", ""),
    "port": int(os.environ.get("VALUECRM_MARKETING_SMTP_PORT", "25")),
    "user": os.environ.get("VALUECRM_MARKETING_SMTP_USER", ""),
    "password": os.environ.get("VALUECRM_MARKETING_SMTP_PASSWORD", ""),
    "use_tls": os.environ.get("VALUECRM_MARKETING_SMTP_TLS", "0") == "1",
    "from": os.environ.get("VALUECRM_MARKETING_FROM", ""),
}
# Short messages and WeChat/WeCom: provider webhooks, signed with HMAC-SHA256 of the body.
VALUECRM_MARKETING_WEBHOOKS = {
    "sms": {"url": os.environ.get("VALUECRM_SMS_WEBHOOK_URL", ""),
            "secret": os.environ.get("VALUECRM_SMS_WEBHOOK_SECRET", "")},
    "wechat": {"url": os.environ.get("VALUECRM_WECHAT_WEBHOOK_URL", ""),
               "secret": os.environ.get("VALUECRM_WECHAT_WEBHOOK_SECRET", "")},
}
VALUECRM_MARKETING_RATE = float(os.environ.get("VALUECRM_MARKETING_RATE", "500"))  # messages/s, 0 = no limit
VALUECRM_MARKETING_SMTP_CONNECTIONS = int(os.environ.get("VALUECRM_MARKETING_SMTP_CONNECTIONS", "4"))
VALUECRM_MARKETING_CAP = int(os.environ.get("VALUECRM_MARKETING_CAP", "2"))  # messages per customer …
VALUECRM_MARKETING_CAP_DAYS = int(os.environ.get("VALUECRM_MARKETING_CAP_DAYS", "7"))  # … per this many days
VALUECRM_MARKETING_QUIET_HOURS = (22, 8)  # no marketing from 22:00 to 08:00 site time
VALUECRM_MARKETING_GLOBAL_CONTROL_PERCENT = float(os.environ.get("VALUECRM_MARKETING_GLOBAL_CONTROL_PERCENT", "0"))
