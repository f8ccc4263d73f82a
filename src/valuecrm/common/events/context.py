"""Who and what is acting, for the envelope of every event emitted meanwhile.

Services take the acting *user* as an argument; what they cannot know is the
channel (a page, an API token, an import, an automation rule). The entry points
set that here once — the request middleware, the API's token check, the CLI,
the worker jobs, the event dispatcher — and `emit()` reads it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, replace


class ActorKind:
    USER = "user"
    API_TOKEN = "api_token"
    IMPORT = "import"
    AUTOMATION = "automation"
    SYSTEM = "system"


@dataclass(frozen=True)
class Origin:
    actor_kind: str = ActorKind.SYSTEM
    origin: str = "system"  # "web", "api", "cli", "worker", "import", "automation", "system"
    token_id: int | None = None


@dataclass(frozen=True)
class Cause:
    """The event being handled: events emitted while handling it are its consequences."""

    event_id: str
    depth: int
    # Rule ids that already acted in this causation chain, for loop protection.
    chain: frozenset = frozenset()


_origin: ContextVar[Origin] = ContextVar("valuecrm_event_origin", default=Origin())  # noqa: B039 (frozen)
_cause: ContextVar[Cause | None] = ContextVar("valuecrm_event_cause", default=None)


def current_origin() -> Origin:
    return _origin.get()


def current_cause() -> Cause | None:
    return _cause.get()


@contextlib.contextmanager
def acting(actor_kind: str, origin: str, token_id: int | None = None):
    token = _origin.set(Origin(actor_kind, origin, token_id))
    try:
        yield
    finally:
        _origin.reset(token)


def set_origin(actor_kind: str, origin: str, token_id: int | None = None):
    """Set for the rest of the current context (the request middleware resets it)."""
    return _origin.set(Origin(actor_kind, origin, token_id))


def reset_origin(token) -> None:
    _origin.reset(token)


@contextlib.contextmanager
def caused_by(cause: Cause | None):
    token = _cause.set(cause)
    try:
        yield
    finally:
        _cause.reset(token)


def with_rule(cause: Cause, rule_key: str) -> Cause:
    return replace(cause, chain=cause.chain | {rule_key})
