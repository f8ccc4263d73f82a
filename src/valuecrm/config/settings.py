"""ValueCRM settings: one file, driven by environment variables.

VALUECRM_DATA_DIR   where the SQLite database, Huey queue and uploads live (default ./var)
DATABASE_URL        e.g. postgres://user:pw@host/db; default is SQLite (WAL) in the data dir
VALUECRM_SECRET_KEY required in production (VALUECRM_DEBUG unset)
VALUECRM_CURRENCY   default CNY
VALUECRM_TIME_ZONE  default Asia/Shanghai
VALUECRM_IMPORT_FILE_RETENTION_DAYS  days an uploaded import file is kept after the import
                    ends (default 30; the run, its counts and failed rows are kept)
"""

import os
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("VALUECRM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = os.environ.get("VALUECRM_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("VALUECRM_SECRET_KEY") or (
    "dev-insecure-key-change-me" if DEBUG else None
)
if not SECRET_KEY:
    raise RuntimeError("Set VALUECRM_SECRET_KEY when VALUECRM_DEBUG=0")
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
    "huey.contrib.djhuey",
    "valuecrm.common",
    "valuecrm.accounts",
    "valuecrm.customers",
    "valuecrm.sales",
    "valuecrm.insights",
    "valuecrm.imports",
    "valuecrm.integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "valuecrm.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "valuecrm.common.busy.DatabaseBusyMiddleware",
    "valuecrm.common.events.middleware.EventOriginMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
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
