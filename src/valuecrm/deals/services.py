"""Writes on pipelines, deals and the 公海 pool. Every function checks the capability
first, works on a locked fresh copy, reports errors by field, and emits its event in the
same transaction (delivered after commit).

A stage change appends a DealStageLog row; moving into a "won" stage wins the deal,
into a "lost" stage loses it (with a lost reason). A won deal creates the order it sold
through the sales service, once: the order's (source, external_id) is ("deal", deal id).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Role, Scope
from valuecrm.common import events
from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.money import quantize
from valuecrm.customers.visibility import visible_customers
from valuecrm.deals.models import (
    ClaimCap,
    ContactRole,
    Deal,
    DealContact,
    DealLine,
    DealSource,
    DealStageLog,
    DealStatus,
    ForecastCategory,
    LostReason,
    Pipeline,
    PoolMove,
    PoolMoveKind,
    PoolRule,
    Quota,
    Stage,
    StageKind,
)

DEAL_FIELDS = ("customer_id", "pipeline_id", "stage_id", "name", "amount", "currency", "expected_close_date",
               "owner_id", "source", "next_step", "probability", "forecast_category", "lost_reason_id", "lines")
POOL_USERNAME = "system-pool"
MAX_AMOUNT = Decimal("1e12")


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_("Validation failed"), errors=errors)


def _require_deals(actor) -> None:
    require(actor, Capability.DEALS_CHANGE, _("Your role cannot work deals."))


def _require_admin(actor) -> None:
    require(actor, Capability.DEALS_CONFIGURE, _("Only administrators can change pipelines and pool rules."))


def _text(errors, key, value, *, limit=200, required=False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("Enter text."))
        return ""
    value = value.strip()
    if "\x00" in value:
        errors.setdefault(key, []).append(_("Null characters are not allowed."))
    elif len(value) > limit:
        errors.setdefault(key, []).append(_("Enter at most %(n)s characters.") % {"n": limit})
    elif required and not value:
        errors.setdefault(key, []).append(_("This field is required."))
    return value


def _decimal(errors, key, value, *, default=Decimal("0")) -> Decimal:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        errors.setdefault(key, []).append(_("Enter a number."))
        return default
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(key, []).append(_("Enter a number."))
        return default
    if not number.is_finite() or number < 0 or number >= MAX_AMOUNT:
        errors.setdefault(key, []).append(_("Enter an amount between 0 and 999,999,999,999."))
        return default
    return quantize(number)


def _probability(errors, key, value) -> float | None:
    if value is None or value == "":
        return None
    try:
        p = float(value)
    except (TypeError, ValueError, OverflowError):
        errors.setdefault(key, []).append(_("Enter a number between 0 and 1."))
        return None
    if not 0.0 <= p <= 1.0:
        errors.setdefault(key, []).append(_("Enter a number between 0 and 1."))
        return None
    return p


def _date(errors, key, value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.setdefault(key, []).append(_("Enter a date as YYYY-MM-DD."))
        return None


def _pk(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return pk if 0 < pk < 2**62 else None


# ---------------------------------------------------------------- pipelines

@transaction.atomic
def pipeline_create(*, actor, name: str, name_zh: str = "", stages: list[dict]) -> Pipeline:
    """A pipeline with its stages in order: [{name, name_zh, probability, kind, rotting_days}]."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    name = _text(errors, "name", name, limit=100, required=True)
    name_zh = _text(errors, "name_zh", name_zh, limit=100)
    if not isinstance(stages, list) or not stages:
        errors.setdefault("stages", []).append(_("Give at least one stage."))
        stages = []
    built = []
    for i, raw in enumerate(stages):
        if not isinstance(raw, dict):
            errors.setdefault(f"stages.{i}", []).append(_("Expected an object."))
            continue
        kind = raw.get("kind") or StageKind.OPEN
        if kind not in StageKind.values:
            errors.setdefault(f"stages.{i}.kind", []).append(_("Not a valid choice."))
        p = _probability(errors, f"stages.{i}.probability", raw.get("probability"))
        if p is None:
            p = {StageKind.WON: 1.0, StageKind.LOST: 0.0}.get(kind, 0.1)
        rot = raw.get("rotting_days")
        if rot not in (None, "") and (_pk(rot) is None or _pk(rot) > 3650):
            errors.setdefault(f"stages.{i}.rotting_days", []).append(_("Enter a whole number of days."))
            rot = None
        built.append(Stage(name=_text(errors, f"stages.{i}.name", raw.get("name"), limit=100, required=True),
                           name_zh=_text(errors, f"stages.{i}.name_zh", raw.get("name_zh"), limit=100),
                           position=i, probability=p, kind=kind, rotting_days=_pk(rot) if rot else None))
    kinds = {s.kind for s in built}
    if built and not ({StageKind.OPEN} <= kinds and StageKind.WON in kinds and StageKind.LOST in kinds):
        errors.setdefault("stages", []).append(_("A pipeline needs open stages, a won stage and a lost stage."))
    _raise_if(errors)
    pipeline = Pipeline.objects.create(name=name, name_zh=name_zh, position=Pipeline.objects.count())
    for s in built:
        s.pipeline = pipeline
    Stage.objects.bulk_create(built)
    events.emit(events.ConfigChanged(kind="pipeline", object_id=str(pipeline.pk), action="created"), actor=actor)
    return pipeline


# ---------------------------------------------------------------- deals

def _owner_for(actor, owner_id, errors) -> User | None:
    owner = User.objects.filter(pk=_pk(owner_id), is_active=True).first() if _pk(owner_id) else None
    if owner is None:
        errors.setdefault("owner_id", []).append(_("Unknown user."))
        return None
    if owner.pk != actor.pk:
        if not actor.can(Capability.CUSTOMERS_REASSIGN):
            raise PermissionDenied(_("You can only own deals yourself."),
                                   errors={"owner_id": [_("You can only own deals yourself.")]})
        if actor.scope != Scope.ALL and owner.team_id != actor.team_id:
            raise PermissionDenied(_("You can only assign deals to members of your team."),
                                   errors={"owner_id": [_("You can only assign deals to members of your team.")]})
    return owner


def _lines(errors, raw_lines) -> list[DealLine]:
    from valuecrm.orders.models import Product

    if not isinstance(raw_lines, list):
        errors.setdefault("lines", []).append(_("Expected a list of product lines."))
        return []
    out = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            errors.setdefault(f"lines.{i}", []).append(_("Expected an object."))
            continue
        product = None
        if raw.get("product_id") not in (None, ""):
            product = Product.objects.filter(pk=_pk(raw["product_id"])).first() if _pk(raw["product_id"]) else None
            if product is None:
                errors.setdefault(f"lines.{i}.product_id", []).append(_("Unknown product."))
                continue
        name = _text(errors, f"lines.{i}.name", raw.get("name") or (product.name if product else ""), required=True)
        qty = _decimal(errors, f"lines.{i}.quantity", raw.get("quantity"), default=Decimal("1"))
        if qty <= 0 and f"lines.{i}.quantity" not in errors:
            errors.setdefault(f"lines.{i}.quantity", []).append(_("Quantity must be positive."))
        price = _decimal(errors, f"lines.{i}.unit_price", raw.get("unit_price"),
                         default=product.price if product else Decimal("0"))
        out.append(DealLine(product=product, name=name, quantity=qty, unit_price=price))
    return out


def _apply(actor, deal: Deal, data: dict, *, creating: bool) -> tuple[dict, list[str], list[DealLine] | None]:
    errors: dict[str, list[str]] = {}
    changed: list[str] = []
    lines = None
    for key in data:
        if key not in DEAL_FIELDS:
            errors.setdefault(key, []).append(_("Unknown field."))

    def put(field, value):
        if getattr(deal, field) != value:
            setattr(deal, field, value)
            changed.append(field)

    if "customer_id" in data or creating:
        cid = _pk(data.get("customer_id"))
        customer = visible_customers(actor).filter(pk=cid).first() if cid else None
        if customer is None:
            errors.setdefault("customer_id", []).append(_("Unknown customer."))
        else:
            put("customer_id", customer.pk)
    if "pipeline_id" in data or creating:
        pid = _pk(data.get("pipeline_id"))
        pipeline = Pipeline.objects.filter(pk=pid, active=True).first() if pid else None
        if pipeline is None and creating and data.get("pipeline_id") in (None, ""):
            pipeline = Pipeline.objects.filter(active=True).first()
        if pipeline is None:
            errors.setdefault("pipeline_id", []).append(_("Unknown pipeline."))
        elif not creating and pipeline.pk != deal.pipeline_id and "stage_id" not in data:
            errors.setdefault("stage_id", []).append(_("Give the stage in the new pipeline."))
        else:
            put("pipeline_id", pipeline.pk)
    if creating:
        sid = _pk(data.get("stage_id"))
        stage = None
        if deal.pipeline_id:
            qs = Stage.objects.filter(pipeline_id=deal.pipeline_id)
            stage = qs.filter(pk=sid).first() if sid else qs.filter(kind=StageKind.OPEN).first()
        if stage is None:
            if "pipeline_id" not in errors:
                errors.setdefault("stage_id", []).append(_("Unknown stage of this pipeline."))
        elif stage.kind != StageKind.OPEN:
            errors.setdefault("stage_id", []).append(_("A new deal starts in an open stage."))
        else:
            deal.stage = stage
    if "name" in data or creating:
        put("name", _text(errors, "name", data.get("name"), required=True))
    if "amount" in data:
        put("amount", _decimal(errors, "amount", data["amount"]))
    if "currency" in data or creating:
        code = data.get("currency") or settings.VALUECRM_CURRENCY
        code = code.strip().upper() if isinstance(code, str) else ""
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            errors.setdefault("currency", []).append(_("Enter a three-letter ISO 4217 currency code."))
        else:
            put("currency", code)
    if "expected_close_date" in data:
        put("expected_close_date", _date(errors, "expected_close_date", data["expected_close_date"]))
    if "owner_id" in data and data["owner_id"] not in (None, ""):
        owner = _owner_for(actor, data["owner_id"], errors)
        if owner is not None:
            put("owner_id", owner.pk)
            put("team_id", owner.team_id)
    elif creating:
        deal.owner, deal.team_id = actor, actor.team_id
    if "source" in data:
        if data["source"] not in DealSource.values:
            errors.setdefault("source", []).append(_("Not a valid choice."))
        else:
            put("source", data["source"])
    if "next_step" in data:
        put("next_step", _text(errors, "next_step", data["next_step"]))
    if "probability" in data:
        p = _probability(errors, "probability", data["probability"])
        if "probability" not in errors:
            put("probability", p)
    if "forecast_category" in data:
        if data["forecast_category"] not in ForecastCategory.values:
            errors.setdefault("forecast_category", []).append(_("Not a valid choice."))
        else:
            put("forecast_category", data["forecast_category"])
    if "lost_reason_id" in data and data["lost_reason_id"] not in (None, ""):
        reason = LostReason.objects.filter(pk=_pk(data["lost_reason_id"]), active=True).first() \
            if _pk(data["lost_reason_id"]) else None
        if reason is None:
            errors.setdefault("lost_reason_id", []).append(_("Unknown lost reason."))
        else:
            put("lost_reason_id", reason.pk)
    if "lines" in data and data["lines"] is not None:
        lines = _lines(errors, data["lines"])
        if not any(k.startswith("lines") for k in errors) and lines and "amount" not in data:
            put("amount", quantize(sum(ln.line_total for ln in lines)))
        changed.append("lines")
    return errors, changed, lines


@transaction.atomic
def deal_create(*, actor, data: dict) -> Deal:
    """Create a deal (first stage of the pipeline unless `stage_id` names an open one).

    Raises ValidationFailed (by field), PermissionDenied."""
    _require_deals(actor)
    data = dict(data)
    deal = Deal(created_by=actor)
    errors, _changed, lines = _apply(actor, deal, data, creating=True)
    _raise_if(errors)
    now = timezone.now()
    deal.opened_at = deal.stage_entered_at = now
    deal._history_user = actor
    deal.save()
    for line in lines or ():
        line.deal = deal
    DealLine.objects.bulk_create(lines or [])
    DealStageLog.objects.create(deal=deal, from_stage=None, to_stage=deal.stage, changed_at=now, changed_by=actor)
    events.emit(events.DealCreated(customer_id=deal.customer_id, deal_id=deal.pk, pipeline_id=deal.pipeline_id,
                                   stage_id=deal.stage_id, amount=str(deal.amount)), actor=actor)
    return deal


def _visible_deal(actor, deal_or_id) -> Deal:
    pk = deal_or_id.pk if isinstance(deal_or_id, Deal) else _pk(deal_or_id)
    deal = Deal.objects.visible_to(actor).filter(pk=pk).first() if pk else None
    if deal is None:
        raise NotFound(_("Deal not found."))
    return Deal.objects.select_for_update().select_related("stage", "pipeline").get(pk=deal.pk)


@transaction.atomic
def deal_update(*, actor, deal, data: dict) -> Deal:
    """Change the keys present in `data` (stage changes go through deal_move_stage)."""
    data = dict(data)
    fresh = _visible_deal(actor, deal)
    _require_deals(actor)
    stage_id = data.pop("stage_id", None)
    errors, changed, lines = _apply(actor, fresh, data, creating=False)
    _raise_if(errors)
    if changed:
        fresh._history_user = actor
        fresh.save()
        if "customer_id" in changed:
            # Contact persons belong to a customer: those of the previous one leave the deal.
            DealContact.objects.filter(deal=fresh).exclude(person__company_id=fresh.customer_id).delete()
        if lines is not None:
            fresh.lines.all().delete()
            for line in lines:
                line.deal = fresh
            DealLine.objects.bulk_create(lines)
        events.emit(events.DealUpdated(customer_id=fresh.customer_id, deal_id=fresh.pk,
                                       changed_fields=tuple(sorted(set(changed)))), actor=actor)
    if stage_id not in (None, "") and _pk(stage_id) != fresh.stage_id:
        fresh = deal_move_stage(actor=actor, deal=fresh, stage_id=stage_id,
                                lost_reason_id=data.get("lost_reason_id"))
    return fresh


@transaction.atomic
def deal_move_stage(*, actor, deal, stage_id, lost_reason_id=None, when: datetime | None = None) -> Deal:
    """Move a deal to another stage of its pipeline, appending the stage log.

    A won stage wins the deal (and creates its order); a lost stage needs a lost reason
    unless the deal has one. A closed deal can be reopened by moving it to an open stage."""
    fresh = _visible_deal(actor, deal)
    _require_deals(actor)
    sid = _pk(stage_id)
    stage = Stage.objects.filter(pk=sid, pipeline_id=fresh.pipeline_id).first() if sid else None
    if stage is None:
        raise ValidationFailed(_("Validation failed"), errors={"stage_id": [_("Unknown stage of this pipeline.")]})
    if stage.pk == fresh.stage_id:
        return fresh
    reason = None
    if stage.kind == StageKind.LOST:
        rid = _pk(lost_reason_id) if lost_reason_id not in (None, "") else fresh.lost_reason_id
        reason = LostReason.objects.filter(pk=rid, active=True).first() if rid else None
        if reason is None:
            raise ValidationFailed(_("Validation failed"),
                                   errors={"lost_reason_id": [_("Choose why the deal was lost.")]})
    now = when or timezone.now()
    from_stage = fresh.stage
    fresh.stage = stage
    fresh.stage_entered_at = now
    emitted: list[events.Event] = [events.DealStageChanged(
        customer_id=fresh.customer_id, deal_id=fresh.pk, from_stage_id=from_stage.pk, to_stage_id=stage.pk,
        to_stage=stage.name)]
    if stage.kind == StageKind.OPEN:
        fresh.status, fresh.closed_at = DealStatus.OPEN, None
        if fresh.forecast_category == ForecastCategory.CLOSED:
            fresh.forecast_category = ForecastCategory.PIPELINE
    else:
        fresh.closed_at = now
        fresh.forecast_category = ForecastCategory.CLOSED if stage.kind == StageKind.WON \
            else ForecastCategory.OMITTED
        if stage.kind == StageKind.WON:
            fresh.status = DealStatus.WON
            emitted.append(events.DealWon(customer_id=fresh.customer_id, deal_id=fresh.pk, amount=str(fresh.amount)))
        else:
            fresh.status = DealStatus.LOST
            fresh.lost_reason = reason
            emitted.append(events.DealLost(customer_id=fresh.customer_id, deal_id=fresh.pk, lost_reason=reason.name))
    fresh._history_user = actor
    fresh.save()
    DealStageLog.objects.create(deal=fresh, from_stage=from_stage, to_stage=stage, changed_at=now, changed_by=actor)
    events.emit_many(emitted, actor=actor)
    return fresh


@transaction.atomic
def deal_contact_set(*, actor, deal, person_id, role) -> DealContact:
    """Add a contact person of the deal's customer to the deal, or change their role.

    Raises NotFound (deal), PermissionDenied, ValidationFailed ("person_id": not a contact
    person of this customer; "role": not a role)."""
    from valuecrm.customers.models import Customer

    fresh = _visible_deal(actor, deal)
    _require_deals(actor)
    errors: dict[str, list[str]] = {}
    pk = _pk(person_id)
    person = visible_customers(actor, Customer.objects.filter(pk=pk, company_id=fresh.customer_id)).first() \
        if pk else None
    if person is None:
        errors["person_id"] = [_("Choose a contact person of this deal's customer.")]
    if role not in ContactRole.values:
        errors["role"] = [_("Not a valid choice.")]
    _raise_if(errors)
    row, created = DealContact.objects.get_or_create(deal=fresh, person=person, defaults={"role": role})
    if not created and row.role == role:
        return row
    if not created:
        row.role = role
        row.save(update_fields=["role"])
    events.emit(events.DealUpdated(customer_id=fresh.customer_id, deal_id=fresh.pk, changed_fields=("contacts",)),
                actor=actor)
    return row


@transaction.atomic
def deal_contact_remove(*, actor, deal, person_id) -> None:
    fresh = _visible_deal(actor, deal)
    _require_deals(actor)
    pk = _pk(person_id)
    deleted, _n = DealContact.objects.filter(deal=fresh, person_id=pk).delete() if pk else (0, {})
    if not deleted:
        raise NotFound(_("This person is not a contact of the deal."))
    events.emit(events.DealUpdated(customer_id=fresh.customer_id, deal_id=fresh.pk, changed_fields=("contacts",)),
                actor=actor)


@transaction.atomic
def deal_create_order(*, actor, deal) -> tuple[object, bool]:
    """The order a won deal sold, created once through the sales service (idempotent on
    ("deal", deal id)); returns (order, created)."""
    from valuecrm.orders import services as sales_services

    fresh = _visible_deal(actor, deal)
    _require_deals(actor)
    if fresh.status != DealStatus.WON:
        raise ValidationFailed(_("Validation failed"), errors={"status": [_("Only a won deal creates an order.")]})
    if fresh.order_id:
        return fresh.order, False
    lines = [{"product_id": ln.product_id, "name": ln.name, "quantity": str(ln.quantity),
              "unit_price": str(ln.unit_price)} if ln.product_id else
             {"name": ln.name, "quantity": str(ln.quantity), "unit_price": str(ln.unit_price)}
             for ln in fresh.lines.all()]
    data = {"customer_id": fresh.customer_id, "source": "deal", "external_id": str(fresh.pk),
            "channel": "sales", "status": "paid", "placed_at": fresh.closed_at or timezone.now(),
            "currency": fresh.currency}
    if lines:
        data["lines"] = lines
    else:
        data["total_amount"] = str(fresh.amount)
    order, created = sales_services.order_create(actor=actor, data=data)
    fresh.order = order
    fresh._history_user = actor
    fresh.save(update_fields=["order", "updated_at"])
    events.emit(events.DealUpdated(customer_id=fresh.customer_id, deal_id=fresh.pk, changed_fields=("order_id",)),
                actor=actor)
    return order, created


@transaction.atomic
def deal_delete(*, actor, deal) -> None:
    fresh = _visible_deal(actor, deal)
    require(actor, Capability.CUSTOMERS_DELETE, _("Only managers can delete deals."))
    events.emit(events.DealUpdated(customer_id=fresh.customer_id, deal_id=fresh.pk, changed_fields=("deleted",)),
                actor=actor)
    fresh.delete()


@transaction.atomic
def quota_set(*, actor, owner_id, period: str, amount) -> Quota:
    require(actor, Capability.CUSTOMERS_REASSIGN, _("Only managers can set quotas."))
    from valuecrm.deals.forecast import parse_period

    errors: dict[str, list[str]] = {}
    owner = User.objects.filter(pk=_pk(owner_id), is_active=True).first() if _pk(owner_id) else None
    if owner is None:
        errors["owner_id"] = [_("Unknown user.")]
    try:
        parse_period(period)
    except ValueError:
        errors["period"] = [_("Enter a period like 2027-Q1 or 2027-03.")]
    value = _decimal(errors, "amount", amount)
    _raise_if(errors)
    quota, _created = Quota.objects.update_or_create(owner=owner, period=period, defaults={"amount": value})
    events.emit(events.ConfigChanged(kind="quota", object_id=str(quota.pk), action="updated"), actor=actor)
    return quota


# ---------------------------------------------------------------- 公海 pool

DEFAULT_CAPS = {Role.SALES_REP: 5, Role.SALES_MANAGER: 20, Role.ADMIN: 100}


def pool_actor() -> User:
    """The account the pool changes owners as (customers' rules: it may assign anyone);
    the person who asked is kept on the PoolMove row and the event's actor."""
    user = User.objects.filter(username=POOL_USERNAME).first()
    if user is None:
        user = User(username=POOL_USERNAME, role=Role.ADMIN, first_name="公海 pool", is_active=True)
        user.set_unusable_password()
        user.save()
    return user


def require_pool_access(user) -> None:
    _require_deals(user)


def claim_cap(user) -> int:
    row = ClaimCap.objects.filter(role=user.role).first()
    if row is not None:
        return row.per_day
    return DEFAULT_CAPS.get(user.role, 0) if not user.is_superuser else 100


def claims_today(user, now=None) -> int:
    now = timezone.localtime(now or timezone.now())
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return PoolMove.objects.filter(user=user, kind=PoolMoveKind.CLAIMED, at__gte=start).count()


def _change_owner(customer_id: int, owner_id: int | None, *, on_behalf_of: User | None):
    """The owner change, made as the pool's system account (a rep may not see an unowned
    customer nor assign owners; the pool service made its own checks). The customer's
    history and `customer.owner_changed` name the person who asked, or the system
    account when nobody did (the nightly sweep)."""
    from valuecrm.customers.models import Customer
    from valuecrm.customers.services import customer_update

    customer = Customer.objects.get(pk=customer_id)
    return customer_update(actor=pool_actor(), customer=customer, data={"owner_id": owner_id},
                           recorded_as=on_behalf_of)


@transaction.atomic
def pool_claim(*, actor, customer_id, now=None) -> PoolMove:
    """Take an unowned customer from the pool (daily cap per role)."""
    from valuecrm.customers.models import Customer

    _require_deals(actor)
    pk = _pk(customer_id)
    row = Customer.objects.select_for_update().filter(pk=pk, archived_at__isnull=True).first() if pk else None
    if row is None or row.owner_id is not None:
        raise NotFound(_("This customer is not in the pool."))
    cap = claim_cap(actor)
    if claims_today(actor, now) >= cap:
        raise PermissionDenied(_("You have claimed your %(n)s customers for today.") % {"n": cap},
                               errors={"customer_id": [_("Daily claim limit reached.")]})
    _change_owner(row.pk, actor.pk, on_behalf_of=actor)
    move = PoolMove.objects.create(customer_id=row.pk, kind=PoolMoveKind.CLAIMED, user=actor,
                                   at=now or timezone.now())
    events.emit(events.PoolClaimed(customer_id=row.pk, user_id=actor.pk), actor=actor)
    return move


@transaction.atomic
def pool_release(*, actor, customer_id, reason: str, now=None) -> PoolMove:
    """Give an owned customer back to the pool, with a reason (owner, or a manager who sees it)."""
    from valuecrm.customers.models import Customer

    _require_deals(actor)
    pk = _pk(customer_id)
    customer = visible_customers(actor).filter(pk=pk).first() if pk else None
    if customer is None:
        raise NotFound(_("Customer not found."))
    errors: dict[str, list[str]] = {}
    reason = _text(errors, "reason", reason, required=True)
    if customer.owner_id is None:
        errors.setdefault("customer_id", []).append(_("This customer is already in the pool."))
    elif customer.owner_id != actor.pk and not actor.can(Capability.CUSTOMERS_REASSIGN):
        raise PermissionDenied(_("You can only release your own customers."))
    _raise_if(errors)
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    from_owner = customer.owner_id
    _change_owner(customer.pk, None, on_behalf_of=actor)
    move = PoolMove.objects.create(customer_id=customer.pk, kind=PoolMoveKind.RELEASED, user=actor,
                                   from_owner_id=from_owner, reason=reason, at=now or timezone.now())
    events.emit(events.PoolReleased(customer_id=customer.pk, from_owner_id=from_owner, reason=reason), actor=actor)
    return move


@transaction.atomic
def pool_rule_save(*, actor, tier: str = "", stage: str = "", days, warn_only: bool = False) -> PoolRule:
    from valuecrm.insights.models import Stage as LifecycleStage
    from valuecrm.insights.models import Tier

    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if tier and tier not in Tier.values:
        errors["tier"] = [_("Not a valid choice.")]
    if stage and stage not in LifecycleStage.values:
        errors["stage"] = [_("Not a valid choice.")]
    n = _pk(days)
    if n is None or n > 3650:
        errors["days"] = [_("Enter a whole number of days between 1 and 3650.")]
    _raise_if(errors)
    rule, _c = PoolRule.objects.update_or_create(tier=tier, stage=stage,
                                                 defaults={"days": n, "warn_only": bool(warn_only)})
    events.emit(events.ConfigChanged(kind="pool_rule", object_id=str(rule.pk), action="updated"), actor=actor)
    return rule


@transaction.atomic
def pool_rule_delete(*, actor, rule_id) -> None:
    _require_admin(actor)
    rule = PoolRule.objects.filter(pk=_pk(rule_id)).first() if _pk(rule_id) else None
    if rule is None:
        raise NotFound(_("Rule not found."))
    events.emit(events.ConfigChanged(kind="pool_rule", object_id=str(rule.pk), action="deleted"), actor=actor)
    rule.delete()


@transaction.atomic
def claim_cap_set(*, actor, role: str, per_day) -> ClaimCap:
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if role not in Role.values:
        errors["role"] = [_("Not a valid choice.")]
    n = _pk(per_day) if per_day not in (0, "0") else 0
    if n is None or n > 1000:
        errors["per_day"] = [_("Enter a whole number between 0 and 1000.")]
    _raise_if(errors)
    cap, _c = ClaimCap.objects.update_or_create(role=role, defaults={"per_day": n})
    events.emit(events.ConfigChanged(kind="claim_cap", object_id=role, action="updated"), actor=actor)
    return cap


@transaction.atomic
def pool_sweep(*, now=None) -> dict:
    """Reclaim (or, for warn-only rules, warn about) owned customers past their rule's days
    without a logged follow-up. Run nightly; returns {"reclaimed": n, "warned": n}."""
    from valuecrm.deals.pool import due_for_reclaim

    now = now or timezone.now()
    actor = pool_actor()
    reclaimed = warned = 0
    emitted: list[events.Event] = []
    for item in due_for_reclaim(now=now):
        if item.warn_only:
            # One warning per quiet spell: not again until a follow-up or a new claim.
            if PoolMove.objects.filter(customer_id=item.customer_id, kind=PoolMoveKind.WARNED,
                                       at__gte=item.last_touch).exists():
                continue
            PoolMove.objects.create(customer_id=item.customer_id, kind=PoolMoveKind.WARNED, user=None,
                                    from_owner_id=item.owner_id, at=now,
                                    reason=f"{item.days_quiet}d > {item.days_allowed}d")
            emitted.append(events.PoolReclaimWarned(customer_id=item.customer_id, owner_id=item.owner_id,
                                                    days_without_follow_up=item.days_quiet))
            warned += 1
            continue
        _change_owner(item.customer_id, None, on_behalf_of=None)
        PoolMove.objects.create(customer_id=item.customer_id, kind=PoolMoveKind.RECLAIMED, user=None,
                                from_owner_id=item.owner_id, at=now,
                                reason=f"{item.days_quiet}d > {item.days_allowed}d")
        emitted.append(events.PoolReclaimed(customer_id=item.customer_id, from_owner_id=item.owner_id,
                                            days_without_follow_up=item.days_quiet))
        reclaimed += 1
    if emitted:
        events.emit_many(emitted, actor=actor)
    return {"reclaimed": reclaimed, "warned": warned}
