"""Personal data encrypted at rest: AES-GCM field encryption and HMAC blind indexes.

Values are stored as versioned text tokens ``ev1:<key id>:<base64(nonce + ciphertext)>``
(text, so they fit a TEXT column on SQLite and PostgreSQL alike). The keys live outside
the database: in VALUECRM_FIELD_KEYS (the JSON below) or in the data dir's ``field_keys``
file, created with mode 0600 on first start like the secret key (config/secret_key.py).

    {"primary": "k1", "data_keys": {"k1": "<base64 32 bytes>"},
     "index_key": "<base64 32 bytes>"}

Reading tries the key the token names, so after ``valuecrm keys rotate`` adds a new
primary key, rows still under the old one stay readable until the rotation has
re-encrypted them. Lookups cannot run on ciphertext: equality goes through a blind
index (HMAC-SHA256 of the normalised value under the separate ``index_key``, truncated),
and phone prefix/suffix and e-mail part search through search tokens (64-bit HMACs).

An empty value stays empty (``""``/NULL) so that "has no e-mail" stays a plain filter;
that a customer has an e-mail at all is not secret. A value that is not a token reads
as it is: rows written before encryption are readable until the migration (or a
rotation) rewrites them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import models
from django.db.models.lookups import Exact, IsNull

FILE_NAME = "field_keys"
ENV_NAME = "VALUECRM_FIELD_KEYS"
PREFIX = "ev1:"
NONCE_BYTES = 12
BIDX_HEX = 32  # 128 bits of the HMAC, as hex text


class DecryptionError(Exception):
    """A token that no known key opens: a missing key or damaged data."""


class EncryptedLookupError(FieldError):
    """A query filtering an encrypted field by value: use the blind index instead."""


@dataclass
class KeyRing:
    primary: str
    data_keys: dict[str, bytes]
    index_key: bytes

    def to_json(self) -> str:
        return json.dumps({
            "primary": self.primary,
            "data_keys": {k: base64.b64encode(v).decode() for k, v in self.data_keys.items()},
            "index_key": base64.b64encode(self.index_key).decode(),
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            data = json.loads(text)
            ring = cls(primary=str(data["primary"]),
                       data_keys={str(k): base64.b64decode(v) for k, v in data["data_keys"].items()},
                       index_key=base64.b64decode(data["index_key"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ImproperlyConfigured(f"field keys are not valid JSON key ring: {exc}") from None
        if ring.primary not in ring.data_keys:
            raise ImproperlyConfigured("field keys: the primary key id is not among data_keys")
        if any(len(k) != 32 for k in ring.data_keys.values()) or len(ring.index_key) != 32:
            raise ImproperlyConfigured("field keys: every key must be 32 bytes")
        return ring

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(primary="k1", data_keys={"k1": secrets.token_bytes(32)}, index_key=secrets.token_bytes(32))


def key_file(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def load_or_create(data_dir: Path) -> KeyRing:
    """The key ring in `data_dir`/field_keys, created (mode 0600, atomically) on first use."""
    path = key_file(data_dir)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        for _ in range(50):  # the creator may still be writing it
            text = path.read_text().strip()
            if text:
                return KeyRing.from_json(text)
            time.sleep(0.02)
        raise ImproperlyConfigured(f"{path} is empty: restore it from a backup") from None
    ring = KeyRing.generate()
    with os.fdopen(fd, "w") as handle:
        handle.write(ring.to_json() + "\n")
    return ring


def save(ring: KeyRing, data_dir: Path) -> None:
    """Write `ring` to the key file atomically (a rename), mode 0600."""
    path = key_file(data_dir)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(ring.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_lock = threading.Lock()
_ring: KeyRing | None = None
_ciphers: dict[str, AESGCM] = {}


def ring() -> KeyRing:
    global _ring
    if _ring is None:
        with _lock:
            if _ring is None:
                from django.conf import settings

                text = os.environ.get(ENV_NAME, "").strip()
                _ring = KeyRing.from_json(text) if text else load_or_create(settings.DATA_DIR)
    return _ring


def set_ring(new: KeyRing | None) -> None:
    """Replace the loaded key ring (rotation, tests); None reloads on next use."""
    global _ring
    with _lock:
        _ring = new
        _ciphers.clear()


def _cipher(key_id: str) -> AESGCM:
    cipher = _ciphers.get(key_id)
    if cipher is None:
        try:
            cipher = _ciphers[key_id] = AESGCM(ring().data_keys[key_id])
        except KeyError:
            raise DecryptionError(f"no field key {key_id!r}: restore the field_keys file") from None
    return cipher


def encrypt(text: str | None) -> str | None:
    """Plain text → token; '' and None stay as they are."""
    if not text:
        return text
    key_id = ring().primary
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(key_id).encrypt(nonce, text.encode(), None)
    return f"{PREFIX}{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(value: str | None) -> str | None:
    """Token → plain text; anything that is not a token is returned as it is."""
    if not value or not value.startswith(PREFIX):
        return value
    try:
        key_id, body = value[len(PREFIX):].split(":", 1)
        raw = base64.b64decode(body)
        return _cipher(key_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
    except (ValueError, InvalidTag) as exc:
        raise DecryptionError("an encrypted value cannot be read with the field keys") from exc


def key_id_of(value: str | None) -> str | None:
    if not value or not value.startswith(PREFIX):
        return None
    return value[len(PREFIX):].split(":", 1)[0]


def blind_index(purpose: str, normalised: str | None) -> str:
    """HMAC of the normalised value, for equality lookups; '' for an empty value."""
    if not normalised:
        return ""
    mac = hmac.new(ring().index_key, f"{purpose}\x00{normalised}".encode(), hashlib.sha256)
    return mac.hexdigest()[:BIDX_HEX]


def search_token(purpose: str, text: str) -> int:
    """A signed 64-bit HMAC of (purpose, text): one row of a search-token table."""
    digest = hmac.new(ring().index_key, f"{purpose}\x00{text}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# ---------------------------------------------------------------- model fields

class _NoValueLookups:
    """Only ``isnull`` and ``exact ''`` work on ciphertext; anything else raises, so code
    still filtering by e-mail or phone fails loudly instead of silently matching nothing."""

    encrypted = True

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return EmptyExact
        raise EncryptedLookupError(
            f"{self.model.__name__}.{self.name} is encrypted: '{lookup_name}' cannot run on it; "
            f"look it up through its blind index (customers.selectors)")

    def get_transform(self, lookup_name):
        raise EncryptedLookupError(
            f"{self.model.__name__}.{self.name} is encrypted: '{lookup_name}' cannot run on it")

    def db_type(self, connection):
        return "text"

    def rel_db_type(self, connection):
        return "text"


class EmptyExact(Exact):
    def get_prep_lookup(self):
        if self.rhs not in ("", None):
            raise EncryptedLookupError(
                f"{self.lhs.target.model.__name__}.{self.lhs.target.name} is encrypted: it can only "
                f"be compared with '' — look a value up through its blind index")
        return super().get_prep_lookup()


class EncryptedTextField(_NoValueLookups, models.CharField):
    """A CharField (forms, schemas and max_length as before) stored AES-GCM encrypted."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) else value

    def to_python(self, value):
        return decrypt(super().to_python(value))


class EncryptedDateField(_NoValueLookups, models.DateField):
    """A DateField stored encrypted as text (the ISO date inside the token)."""

    def get_internal_type(self):
        # A text column to the backends: their date converters must not parse the token.
        return "TextField"

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return None
        return datetime.date.fromisoformat(decrypt(value))

    def get_db_prep_value(self, value, connection, prepared=False):
        value = self.to_python(value)
        return encrypt(value.isoformat()) if value else None

    def to_python(self, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            value = decrypt(value)
        return super().to_python(value)


class BlindIndexField(models.CharField):
    """The blind index of another field of the same model, kept up to date on every save
    and bulk_create (pre_save) and by the raw bulk writers (``compute``)."""

    def __init__(self, *args, source: str = "", purpose: str = "", normalizer: str = "", **kwargs):
        kwargs.setdefault("max_length", BIDX_HEX)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        self.source, self.purpose, self.normalizer = source, purpose or source, normalizer
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.update(source=self.source, purpose=self.purpose, normalizer=self.normalizer)
        for key, value in (("max_length", BIDX_HEX), ("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == value:
                kwargs.pop(key)
        return name, path, args, kwargs

    def compute(self, value) -> str:
        if value in (None, ""):
            return ""
        if self.normalizer == "month_day":
            if isinstance(value, str):
                value = datetime.date.fromisoformat(value)
            return blind_index(self.purpose, f"{value.month:02d}-{value.day:02d}")
        return blind_index(self.purpose, str(value))

    def pre_save(self, model_instance, add):
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


def blind_index_fields(model) -> list[BlindIndexField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]


def with_blind_indexes(model, update_fields):
    """`update_fields` plus the blind indexes of any source field in it (for Model.save)."""
    if update_fields is None:
        return None
    names = set(update_fields)
    for f in blind_index_fields(model):
        if f.source in names:
            names.add(f.name)
    return list(names)


def index_updates(model, changes: dict) -> dict:
    """The blind-index columns to write with a QuerySet.update(**changes)."""
    return {f.attname: f.compute(changes[f.source]) for f in blind_index_fields(model)
            if f.source in changes}


# ---------------------------------------------------------------- re-encryption

def encrypted_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]


def reencrypt(model, *, batch: int = 1000, after=None, progress=None) -> int:
    """Rewrite every row of `model` (pk order, `batch` rows per UPDATE, from after pk
    `after`): encrypted fields under the primary key, blind indexes under the index key.
    Plain text left from before encryption is encrypted on the way. Returns rows written;
    ``progress(last_pk)`` is called after each batch, so an interrupted run can resume."""
    fields = encrypted_fields(model)
    indexes = blind_index_fields(model)
    if not fields and not indexes:
        return 0
    names = [f.attname for f in fields] + [f.attname for f in indexes]
    manager = model._base_manager
    count = 0
    while True:
        query = manager.order_by("pk").only(*names)
        if after is not None:
            query = query.filter(pk__gt=after)
        rows = list(query[:batch])
        if not rows:
            return count
        for row in rows:
            for f in indexes:
                setattr(row, f.attname, f.compute(getattr(row, f.source)))
            for f in fields:
                if isinstance(f, EncryptedJSONField):
                    setattr(row, f.attname, reseal_tokens(getattr(row, f.attname)))
        manager.bulk_update(rows, names)
        after = rows[-1].pk
        count += len(rows)
        if progress is not None:
            progress(after)


def add_primary_key(current: KeyRing) -> KeyRing:
    """A ring with a new data key as the primary; the old ones stay for reading."""
    number = 1 + max(int(k[1:]) for k in current.data_keys if k[1:].isdigit())
    key_id = f"k{number}"
    return KeyRing(primary=key_id, data_keys={**current.data_keys, key_id: secrets.token_bytes(32)},
                   index_key=current.index_key)


def retire_old_keys(current: KeyRing) -> KeyRing:
    return KeyRing(primary=current.primary, data_keys={current.primary: current.data_keys[current.primary]},
                   index_key=current.index_key)


def with_new_index_key(current: KeyRing) -> KeyRing:
    return KeyRing(primary=current.primary, data_keys=dict(current.data_keys),
                   index_key=secrets.token_bytes(32))


# ---------------------------------------------------------------- JSON copies

# The keys that name personal data in a JSON copy of a record (an import's review rows, the
# previous values an import overwrote, a webhook's or event's payload): exactly the fields
# customers.Customer and customers.Address keep encrypted (a test holds the two lists
# together). The name is not among them, as on the record.
PERSONAL_KEYS = ("email", "phone", "birthday", "line1", "line2", "postal_code")


def personal_paths(prefix: str = "", key_prefix: str = "") -> tuple[str, ...]:
    """The paths of PERSONAL_KEYS under `prefix` ("*." for each item of a list), each key
    written with `key_prefix` ("match_" → "match_email")."""
    return tuple(f"{prefix}{key_prefix}{key}" for key in PERSONAL_KEYS)


def is_sealed(value) -> bool:
    """Whether `value` is a token of this ring (not a text that merely starts like one)."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return False
    key_id, sep, body = value[len(PREFIX):].partition(":")
    if not sep or key_id not in ring().data_keys:
        return False
    try:
        return len(base64.b64decode(body, validate=True)) >= NONCE_BYTES + 16
    except ValueError:
        return False


def _seal_leaf(value):
    # Numbers too (a phone read from a spreadsheet cell is one); they come back as text.
    if isinstance(value, bool) or value is None or value == "":
        return value
    if isinstance(value, int | float):
        return encrypt(str(value))
    if isinstance(value, str):
        return value if is_sealed(value) else encrypt(value)
    return value


def _open_leaf(value):
    return decrypt(value) if isinstance(value, str) and value.startswith(PREFIX) and is_sealed(value) else value


def _at(doc, parts: list[str], leaf):
    """`doc` with `leaf` applied at the path `parts` ("*" = every item or value, a number =
    a list index); the containers along the path are copied, `doc` is left as it was."""
    if not parts:
        return leaf(doc)
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(doc, list):
            return [_at(item, rest, leaf) for item in doc]
        if isinstance(doc, dict):
            return {key: _at(item, rest, leaf) for key, item in doc.items()}
        return doc
    if isinstance(doc, dict):
        if head not in doc:
            return doc
        out = dict(doc)
        out[head] = _at(doc[head], rest, leaf)
        return out
    if isinstance(doc, list) and head.isdigit() and int(head) < len(doc):
        out = list(doc)
        out[int(head)] = _at(doc[int(head)], rest, leaf)
        return out
    return doc


def _apply(doc, paths, leaf):
    if doc is None:
        return None
    for path in paths:
        doc = _at(doc, path.split("."), leaf)
    return doc


def encrypt_json_fields(doc, paths):
    """A copy of the JSON document `doc` with the values at `paths` ("email",
    "rows.*.phone", "_added_contact_points.*.1") encrypted. Idempotent: values that are
    tokens already stay as they are; None, "" and paths that are not there are skipped."""
    return _apply(doc, paths, _seal_leaf)


def decrypt_json_fields(doc, paths):
    """A copy of `doc` with the tokens at `paths` opened (plain values stay as they are)."""
    return _apply(doc, paths, _open_leaf)


def reseal_tokens(doc):
    """`doc` with every token anywhere in it that is not under the primary key re-encrypted
    under it (rotation of documents whose writer put tokens at places of its own)."""
    if isinstance(doc, list):
        return [reseal_tokens(item) for item in doc]
    if isinstance(doc, dict):
        return {key: reseal_tokens(item) for key, item in doc.items()}
    if is_sealed(doc) and key_id_of(doc) != ring().primary:
        return encrypt(decrypt(doc))
    return doc


class EncryptedJSONField(models.JSONField):
    """A JSONField whose values at `paths` are stored encrypted (encrypt_json_fields) and
    read back in clear, so every reader (pages, API, undo) sees the document as written.
    `valuecrm keys rotate` re-encrypts it with the other encrypted fields, and with them
    any token its writer put elsewhere in the document (paths=() for a document that
    holds tokens only at places of the writer's choosing, e.g. a merge snapshot)."""

    encrypted = True

    def __init__(self, *args, paths=(), **kwargs):
        self.paths = tuple(paths)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["paths"] = list(self.paths)
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        return decrypt_json_fields(super().from_db_value(value, expression, connection), self.paths)

    def get_prep_value(self, value):
        if isinstance(value, dict | list):
            value = encrypt_json_fields(value, self.paths)
        return super().get_prep_value(value)


class EncryptedLongTextField(_NoValueLookups, models.TextField):
    """A TextField stored as one token (a webhook body: sent as the exact bytes it holds)."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) and not is_sealed(value) else value

    def to_python(self, value):
        return decrypt(super().to_python(value))
