"""The automation actions on customer records: follow-ups, tags, owner, fields, notes.

Each calls a customers service as the automation actor (ctx.actor), so the same
permission, validation and event rules hold as for a person doing it by hand.
Registered from CustomersConfig.ready() into `valuecrm.common.actions`: customers
never imports automation.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.accounts.models import User
from valuecrm.common.actions import (
    Action,
    ActionContext,
    Outcome,
    Param,
    Plan,
    register_action,
    render_text,
)
from valuecrm.customers import services
from valuecrm.customers.models import Customer, Gender, IncomeBand, Tag, Task

ASSIGNEE_CHOICES = (
    ("owner", gettext_lazy("The customer's owner")),
    ("user", gettext_lazy("A specific user")),
    ("round_robin", gettext_lazy("Round-robin in a team")),
)


def _assignee_choices():
    return [(v, str(label)) for v, label in ASSIGNEE_CHOICES]


def _user_label(pk) -> str:
    user = User.objects.filter(pk=pk).first()
    return user.display_name if user else f"#{pk}"


def _check_user(cleaned: dict, key: str) -> dict:
    if key in cleaned and not User.objects.filter(pk=cleaned[key], is_active=True).exists():
        return {key: [_("Unknown user.")]}
    return {}


class CreateTask(Action):
    type = "create_task"
    label = gettext_lazy("Create a follow-up task")
    params = (
        Param("title", gettext_lazy("Title"), required=True,
              help=gettext_lazy("Placeholders: {customer}, {to_stage}, {tier}, {tag}…")),
        Param("description", gettext_lazy("Description"), "textarea"),
        Param("due_in_days", gettext_lazy("Due in (days)"), "number"),
        Param("assignee", gettext_lazy("Assign to"), "choice", choices=_assignee_choices),
        Param("user_id", gettext_lazy("User"), "user"),
        Param("team_id", gettext_lazy("Team"), "team"),
    )

    @classmethod
    def check(cls, cleaned, errors):
        out = {}
        cleaned.setdefault("assignee", "owner")
        if not 0 <= cleaned.get("due_in_days", 2) <= 3650:
            out["due_in_days"] = [_("Enter between 0 and 3650 days.")]
        if cleaned["assignee"] == "user":
            if "user_id" not in cleaned and "user_id" not in errors:
                out["user_id"] = [_("Choose the user.")]
            out.update(_check_user(cleaned, "user_id"))
        if cleaned["assignee"] == "round_robin":
            if "team_id" not in cleaned and "team_id" not in errors:
                out["team_id"] = [_("Choose the team.")]
            elif "team_id" in cleaned and not User.objects.filter(team_id=cleaned["team_id"],
                                                                  is_active=True).exists():
                out["team_id"] = [_("This team has no active members.")]
        return out

    def _days(self, ctx) -> int:
        # Without a setting, the event's own default (a value alert: the warning policy's), else 2.
        return int(self.config.get("due_in_days", ctx.facts.get("due_in_days", 2)))

    def _assignees(self, contexts: list[ActionContext]) -> list[int | None]:
        mode = self.config.get("assignee", "owner")
        if mode == "user":
            return [self.config["user_id"]] * len(contexts)
        if mode == "round_robin":
            members = list(User.objects.filter(team_id=self.config["team_id"], is_active=True)
                           .order_by("pk").values_list("pk", flat=True))
            if not members:
                return [None] * len(contexts)
            # Continue after whoever got this team's last automated follow-up.
            last = (Task.objects.filter(assignee_id__in=members, created_by__username=AUTOMATION_USERNAME)
                    .order_by("-pk").values_list("assignee_id", flat=True).first())
            start = (members.index(last) + 1) if last in members else 0
            return [members[(start + i) % len(members)] for i in range(len(contexts))]
        return [ctx.facts.get("owner_id") for ctx in contexts]

    def plan(self, ctx):
        (assignee,) = self._assignees([ctx])
        title = render_text(self.config["title"], ctx.facts)
        who = _user_label(assignee) if assignee else _("nobody (no owner)")
        return Plan(_("Create task “%(title)s” for %(who)s, due in %(days)s days") % {
            "title": title, "who": who, "days": self._days(ctx)},
            {"title": title, "assignee_id": assignee})

    def apply_batch(self, contexts):
        now = timezone.now()
        items = [{"title": render_text(self.config["title"], ctx.facts)[:200],
                  "description": render_text(self.config.get("description", ""), ctx.facts),
                  "customer_id": ctx.customer_id, "due_at": now + timedelta(days=self._days(ctx)),
                  "assignee_id": assignee}
                 for ctx, assignee in zip(contexts, self._assignees(contexts), strict=True)]
        created = {t.customer_id: t for t in services.tasks_bulk_create(actor=contexts[0].actor, tasks=items)}
        out = []
        for ctx in contexts:
            task = created.get(ctx.customer_id)
            out.append(Outcome(_("Created task #%(id)s") % {"id": task.pk}, {"task_id": task.pk})
                       if task else Outcome(_("No task: the customer is gone"), {}))
        return out

    def apply(self, ctx):
        return self.apply_batch([ctx])[0]


class _TagAction(Action):
    params = (Param("tag", gettext_lazy("Tag"), required=True),)

    @classmethod
    def check(cls, cleaned, errors):
        if len(cleaned.get("tag", "")) > Tag._meta.get_field("name").max_length:
            return {"tag": [_("Enter at most 50 characters.")]}
        return {}

    def _has(self, customer_id) -> bool:
        return Customer.tags.through.objects.filter(
            customer_id=customer_id, tag__name__iexact=self.config["tag"]).exists()


class AddTag(_TagAction):
    type = "add_tag"
    label = gettext_lazy("Add a tag")

    def plan(self, ctx):
        tag = render_text(self.config["tag"], ctx.facts)
        if self._has(ctx.customer_id):
            return Plan(_("Tag “%(tag)s” is already there: nothing to do") % {"tag": tag}, {})
        return Plan(_("Add tag “%(tag)s”") % {"tag": tag}, {"add_tag": tag})

    def apply_batch(self, contexts):
        tag = self.config["tag"]
        ids = [c.customer_id for c in contexts if c.customer_id]
        n = services.customers_bulk_tag(actor=contexts[0].actor, customer_ids=ids, tag_names=[tag])
        return [Outcome(_("Added tag “%(tag)s”") % {"tag": tag}, {"add_tag": tag, "batch_changed": n})
                for _c in contexts]


class RemoveTag(_TagAction):
    type = "remove_tag"
    label = gettext_lazy("Remove a tag")

    def plan(self, ctx):
        tag = self.config["tag"]
        if not self._has(ctx.customer_id):
            return Plan(_("No tag “%(tag)s”: nothing to do") % {"tag": tag}, {})
        return Plan(_("Remove tag “%(tag)s”") % {"tag": tag}, {"remove_tag": tag})

    def apply_batch(self, contexts):
        tag = self.config["tag"]
        if not Tag.objects.filter(name__iexact=tag).exists():
            return [Outcome(_("No tag “%(tag)s”: nothing to do") % {"tag": tag}, {}) for _c in contexts]
        ids = [c.customer_id for c in contexts if c.customer_id]
        services.customers_bulk_untag(actor=contexts[0].actor, customer_ids=ids, tag_names=[tag])
        return [Outcome(_("Removed tag “%(tag)s”") % {"tag": tag}, {"remove_tag": tag}) for _c in contexts]


class ChangeOwner(Action):
    type = "change_owner"
    label = gettext_lazy("Change the owner")
    params = (Param("user_id", gettext_lazy("New owner"), "user", required=True),)

    @classmethod
    def check(cls, cleaned, errors):
        return _check_user(cleaned, "user_id")

    def plan(self, ctx):
        if ctx.facts.get("owner_id") == self.config["user_id"]:
            return Plan(_("%(user)s already owns this customer") % {"user": _user_label(self.config["user_id"])})
        return Plan(_("Make %(user)s the owner") % {"user": _user_label(self.config["user_id"])},
                    {"owner_id": self.config["user_id"]})

    def apply_batch(self, contexts):
        owner = User.objects.filter(pk=self.config["user_id"], is_active=True).first()
        if owner is None:
            raise ValueError(_("The new owner is no longer an active user."))
        ids = [c.customer_id for c in contexts if c.customer_id]
        services.customers_bulk_assign(actor=contexts[0].actor, customer_ids=ids, owner=owner)
        return [Outcome(_("Owner is now %(user)s") % {"user": owner.display_name}, {"owner_id": owner.pk})
                for _c in contexts]


# Fields a rule may set: plain descriptive ones (no identity, no owner — that is change_owner).
UPDATABLE_FIELDS = ("region", "city", "occupation", "job_title", "acquisition_source", "gender",
                    "income_band", "consent_email", "consent_sms", "consent_phone", "consent_wechat")


def _field_choices():
    return [(f, str(Customer._meta.get_field(f).verbose_name)) for f in UPDATABLE_FIELDS]


class UpdateField(Action):
    type = "update_field"
    label = gettext_lazy("Set a field")
    params = (
        Param("field", gettext_lazy("Field"), "choice", required=True, choices=_field_choices),
        Param("value", gettext_lazy("Value")),
    )

    @classmethod
    def check(cls, cleaned, errors):
        field, value = cleaned.get("field"), cleaned.get("value", "")
        if field == "gender" and value not in {"", *Gender.values}:
            return {"value": [_("Not a valid choice.")]}
        if field == "income_band" and value not in {"", *IncomeBand.values}:
            return {"value": [_("Not a valid choice.")]}
        if field and field.startswith("consent_") and value.lower() not in {"yes", "no", "true", "false"}:
            return {"value": [_("Enter yes or no.")]}
        return {}

    def _value(self):
        field, value = self.config["field"], self.config.get("value", "")
        if field.startswith("consent_"):
            return value.lower() in {"yes", "true"}
        return value

    def plan(self, ctx):
        label = Customer._meta.get_field(self.config["field"]).verbose_name
        return Plan(_("Set %(field)s to “%(value)s”") % {"field": label, "value": self.config.get("value", "")},
                    {self.config["field"]: self._value()})

    def apply(self, ctx):
        customer = Customer.objects.get(pk=ctx.customer_id)
        services.customer_update(actor=ctx.actor, customer=customer, data={self.config["field"]: self._value()})
        label = Customer._meta.get_field(self.config["field"]).verbose_name
        return Outcome(_("Set %(field)s") % {"field": label}, {self.config["field"]: self._value()})


class AddNote(Action):
    type = "add_note"
    label = gettext_lazy("Add a note")
    params = (Param("body", gettext_lazy("Note"), "textarea", required=True),)

    def plan(self, ctx):
        body = render_text(self.config["body"], ctx.facts)
        return Plan(_("Add note “%(body)s”") % {"body": body[:80]}, {"note": body})

    def apply(self, ctx):
        customer = Customer.objects.get(pk=ctx.customer_id)
        note = services.note_create(actor=ctx.actor, customer=customer,
                                    body=render_text(self.config["body"], ctx.facts))
        return Outcome(_("Added note #%(id)s") % {"id": note.pk}, {"note_id": note.pk})


# The user the automation acts as (kept here, where its tasks are counted for round-robin).
AUTOMATION_USERNAME = "automation"


def register() -> None:
    for cls in (CreateTask, AddTag, RemoveTag, ChangeOwner, UpdateField, AddNote):
        register_action(cls)

