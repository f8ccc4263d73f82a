"""Automation actions: what a rule can do, registered by the app that owns the data.

The automation app only orchestrates (trigger → conditions → actions). An action
lives beside the records it changes — customers registers create_task, add_tag,
remove_tag, change_owner, update_field and add_note; webhooks registers
send_webhook; later apps (deals, loyalty, marketing, service) register theirs from
their `AppConfig.ready()`:

    from valuecrm.common.actions import Action, Param, Outcome, Plan, register_action

    class AwardPoints(Action):
        type = "award_points"
        label = gettext_lazy("Award points")
        params = (Param("points", gettext_lazy("Points"), "number", required=True),)

        def plan(self, ctx):  # reads only: the dry run calls nothing else
            return Plan(_("Award %(n)s points") % {"n": self.config["points"]})

        def apply(self, ctx):  # calls the loyalty service as the automation actor
            loyalty_services.points_award(actor=ctx.actor, customer_id=ctx.customer_id, ...)
            return Outcome(_("Awarded %(n)s points") % {"n": self.config["points"]})

    register_action(AwardPoints)

The contract:
- ``clean(config)`` validates a rule's stored configuration (errors by field,
  keys ``actions.<i>.<param>`` are added by the caller);
- ``plan(ctx)`` says what ``apply`` would do and **must not write**: the dry run
  calls it inside ``no_writes()``, which refuses every INSERT/UPDATE/DELETE on the
  connection, so an action that writes in plan() fails its dry run loudly;
- ``apply(ctx)`` performs it through the owning app's service, as ``ctx.actor``;
- ``apply_batch(contexts)`` is the bulk path: the engine hands an action every
  matching record of one event batch at once. The default loops over ``apply``;
  actions on hot paths (tags, tasks) override it to stay at a constant number of
  queries per batch.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import connections
from django.utils.translation import gettext as _

from valuecrm.common.errors import ValidationFailed


@dataclass(frozen=True)
class Param:
    """One setting of an action, as the rule editor draws it and the API accepts it."""

    name: str
    label: Any
    widget: str = "text"  # text | textarea | number | user | team | choice
    required: bool = False
    help: Any = ""
    choices: Callable[[], list[tuple[str, str]]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ActionContext:
    """What one action sees about one record it acts on.

    ``facts`` are read in bulk by the engine before any action runs (the customer's
    name, owner, team, the event's own fields) so that neither plan() nor a bulk
    apply needs a query per record.
    """

    rule_id: int | None
    rule_name: str
    event_name: str
    event_id: str
    customer_id: int | None
    facts: Mapping[str, Any]
    actor: Any = None  # the automation actor (a user row); None in a dry run


@dataclass(frozen=True)
class Plan:
    summary: str
    changes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    summary: str
    changes: dict = field(default_factory=dict)


class Action:
    type: ClassVar[str] = ""
    label: ClassVar[Any] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, config: Mapping[str, Any]):
        self.config = dict(config)

    # -- configuration ------------------------------------------------------------
    @classmethod
    def clean(cls, config: Mapping[str, Any]) -> dict:
        """Validated configuration (without "type"); raise ValidationFailed by param name."""
        errors: dict[str, list[str]] = {}
        known = {p.name for p in cls.params}
        cleaned: dict[str, Any] = {}
        for key in config:
            if key != "type" and key not in known:
                errors[key] = [_("Unknown setting.")]
        for p in cls.params:
            value = config.get(p.name)
            if value in (None, ""):
                if p.required:
                    errors[p.name] = [_("This field is required.")]
                continue
            if p.widget in ("number", "user", "team"):
                try:
                    number = int(value)
                except (TypeError, ValueError, OverflowError):
                    errors[p.name] = [_("Enter a whole number.")]
                    continue
                if not -10**9 < number < 10**9:
                    errors[p.name] = [_("Enter a smaller number.")]
                    continue
                cleaned[p.name] = number
            elif p.widget == "choice":
                valid = {v for v, _label in (p.choices() if p.choices else [])}
                if str(value) not in valid:
                    errors[p.name] = [_("Not a valid choice.")]
                    continue
                cleaned[p.name] = str(value)
            else:
                text = str(value)
                limit = 2000 if p.widget == "textarea" else 200
                if "\x00" in text:
                    errors[p.name] = [_("Null characters are not allowed.")]
                elif len(text) > limit:
                    errors[p.name] = [_("Enter at most %(n)s characters.") % {"n": limit}]
                else:
                    cleaned[p.name] = text.strip()
        errors.update(cls.check(cleaned, errors))
        if errors:
            raise ValidationFailed(_("Validation failed"), errors=errors)
        return cleaned

    @classmethod
    def check(cls, cleaned: dict, errors: dict) -> dict[str, list[str]]:
        """Cross-field or lookup checks of a subclass (e.g. the user exists)."""
        return {}

    # -- running --------------------------------------------------------------------
    # The contract every action implements: plan() describes without writing; apply()
    # (one customer) or apply_batch() (many, without a query each) calls the owning app's
    # service — either one, the other follows. register_action refuses a class that
    # overrides neither, so the bodies below never loop or fail for a registered action.
    def plan(self, ctx: ActionContext) -> Plan:
        raise NotImplementedError(f"{type(self).__name__} must implement plan()")

    def apply(self, ctx: ActionContext) -> Outcome:
        return self.apply_batch([ctx])[0]

    def apply_batch(self, contexts: list[ActionContext]) -> list[Outcome]:
        return [self.apply(ctx) for ctx in contexts]


ACTION_TYPES: dict[str, type[Action]] = {}


def register_action(cls: type[Action]) -> type[Action]:
    """Register an action class under its `type` (idempotent: ready() may run twice)."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} needs a type")
    if cls.plan is Action.plan:
        raise TypeError(f"{cls.__name__} must implement plan()")
    if cls.apply is Action.apply and cls.apply_batch is Action.apply_batch:
        raise TypeError(f"{cls.__name__} must implement apply() or apply_batch()")
    ACTION_TYPES[cls.type] = cls
    return cls


def action_class(type_name: str) -> type[Action] | None:
    return ACTION_TYPES.get(type_name)


def action_types() -> list[type[Action]]:
    return sorted(ACTION_TYPES.values(), key=lambda c: c.type)


# ---------------------------------------------------------------- text with placeholders

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def render_text(template: str, facts: Mapping[str, Any]) -> str:
    """"{customer} is {to_stage}" with the record's facts; unknown names stay as written."""
    return _PLACEHOLDER.sub(lambda m: str(facts.get(m.group(1), m.group(0))), template or "")


# ---------------------------------------------------------------- the dry-run guard

class WriteAttempted(RuntimeError):
    """An action's plan() (or anything else under no_writes) tried to change the database."""


_WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE)\b", re.IGNORECASE)


@contextlib.contextmanager
def no_writes():
    """Refuse every data-changing statement on every database connection meanwhile."""

    def guard(execute, sql, params, many, context):
        if _WRITE_SQL.match(sql or ""):
            raise WriteAttempted(_("A dry run must not change data (%(sql)s).") % {"sql": sql[:60]})
        return execute(sql, params, many, context)

    with contextlib.ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(guard))
        yield
