"""Every public service function that changes data emits a domain event.

The list of functions is read from the service modules themselves, so a new write
function fails this test until it is either exercised below (and emits) or put in
NOT_A_BUSINESS_WRITE with the reason it has no event.
"""

import datetime as dt
import importlib
import inspect
from decimal import Decimal

import pytest

from valuecrm.common.models import OutboxEvent

SERVICE_MODULES = [
    "valuecrm.accounts.services",
    "valuecrm.customers.services",
    "valuecrm.customers.saved_views",
    "valuecrm.orders.services",
    "valuecrm.duplicates.merge",
    "valuecrm.duplicates.services",
    "valuecrm.webhooks.webhooks",
    "valuecrm.webhooks.inbound",
    "valuecrm.imports.services",
    "valuecrm.insights.services.policies",
    "valuecrm.insights.services.scoring",
    "valuecrm.automation.services",
]

# Reads, checks and helpers, or writes that only move a job's own bookkeeping
# (a run's draft/progress state, a user's UI preference). Each says why.
NOT_A_BUSINESS_WRITE = {
    "saved_views_for": "read", "saved_view_get": "read", "saved_view_can_delete": "check",
    "row_snapshot": "helper", "row_restore": "helper used inside customer_merge_undo",
    "customer_relations": "read", "custom_field_keys": "read", "merge_fields": "read",
    "default_choices": "read", "require_duplicate_manager": "check",
    "duplicate_scan_run": "recomputes derived candidate pairs; no record changes",
    "sign": "helper", "signature_valid": "check", "deliveries_due": "read", "endpoint_get": "read",
    "event_publish": "the webhook subscriber's own write (deliveries of an event)",
    "delivery_attempt": "delivery bookkeeping of an already-emitted event",
    "delivery_resend": "re-sends an already-emitted event",
    "verify": "check", "inbound_order": "calls orders.services.order_create (covered)",
    "uploads_dir": "helper", "clean_options": "helper", "undoable_run": "read",
    "import_upload": "draft run bookkeeping", "import_configure": "draft run bookkeeping",
    "import_analyse_start": "draft run bookkeeping", "import_analyse_execute": "draft run bookkeeping",
"import_start": "queues a run; its end emits",
    "import_execute": "the worker half of import_run_now (covered)",
    "imports_clean_up": "retention of drafts and uploaded files",
    "preset_save": "a user's mapping preset (UI state)", "preset_apply": "a user's mapping preset",
    "preset_delete": "a user's mapping preset",
    "can_change_policies": "check",
    "score_run_create": "queues a run; its end emits score_run.finished",
    "score_run_execute": "the worker half of score_now (covered)",
    "score_runs_resume_stale": "restarts interrupted runs; their end emits",
    "ensure_not_running": "check",
    "user_preferences_update": "a user's language/theme (UI state)",
    "task_complete": "wrapper of task_update (covered)",
    "retry_possible": "check",
    "import_retry_valid_rows": "queues a new run of the stored file; its end emits import.finished",
    "task_assignments_seen": "the assignee's own read state of their inbox (UI state)",
    "password_check": "check",
    "import_runs_recover": "fails runs whose worker died (a failed import still emits import.finished)",
    "import_undo_start": "queues the undo; its end emits import.undone",
    "import_undo_execute": "the worker half of import_undo (covered)",
    "score_runs_recover": "fails runs whose worker died; nothing of theirs was written",
    "rule_dry_run": "read: plans only, under no_writes()",
    "rule_set_enabled": "wrapper of rule_update (covered)",
    "runs_purge": "retention of the automation run log",
    "endpoint_deliver": "delivery bookkeeping of an automation run (the run log records it)",
    "scoring_engine_check": "check",
    "score_runs_fail_orphaned": "job bookkeeping: marks runs whose process died as failed",
    "score_to_parquet": "writes a Parquet file for a warehouse; nothing in the CRM changes",
}


def _public_functions():
    for module_name in SERVICE_MODULES:
        module = importlib.import_module(module_name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and fn.__module__ == module_name:
                yield name


@pytest.fixture
def world(admin_user, rep_north, tmp_path, settings, add_orders_for):
    from valuecrm.customers.models import Customer, Interaction, Note, Task  # noqa: F401
    from valuecrm.customers.services import (
        contact_point_add,
        customer_create,
        interaction_create,
        task_create,
    )
    from valuecrm.orders.services import order_create, product_create

    settings.DATA_DIR = tmp_path
    a = customer_create(actor=admin_user, data={"name": "王芳", "email": "wf@example.cn", "city": "上海"})
    b = customer_create(actor=admin_user, data={"name": "王芳", "email": "wf2@example.cn"})
    order, _ = order_create(actor=admin_user, data={
        "customer_id": a.pk, "external_id": "A-1", "placed_at": "2026-01-02T10:00:00+08:00",
        "status": "pending", "total_amount": "120.00"})
    add_orders_for(a)
    return {
        "admin": admin_user, "rep": rep_north, "a": a, "b": b, "order": order, "tmp": tmp_path,
        "point": contact_point_add(actor=admin_user, customer=a, kind="wechat", value="wf_wx"),
        "interaction": interaction_create(actor=admin_user, customer=a, kind="call"),
        "task": task_create(actor=admin_user, title="回访", customer=a),
        "product": product_create(actor=admin_user, data={"sku": "SKU-1", "name": "茶叶", "price": "88"}),
    }


@pytest.fixture
def add_orders_for(db):
    from valuecrm.orders.models import Order

    def _add(customer):
        base = dt.datetime(2025, 1, 5, 12, tzinfo=dt.UTC)
        Order.objects.bulk_create([
            Order(customer=customer, external_id=f"h{i}", placed_at=base + dt.timedelta(days=30 * i),
                  total_amount=Decimal("100"), total_cost=Decimal("40"), status="paid")
            for i in range(6)])

    return _add


def _import(w):
    from valuecrm.imports import services

    path = w["tmp"] / "c.csv"
    path.write_text("name,email\n李雷,lilei@example.cn\n", encoding="utf-8")
    run = services.import_upload(actor=w["admin"], kind="customers", name="c.csv", chunks=[path.read_bytes()])
    run = services.import_configure(actor=w["admin"], run=run)
    return services.import_run_now(actor=w["admin"], run=run)


def _undo_import(w):
    from valuecrm.imports import services

    run = _import(w)
    return services.import_undo(actor=w["admin"], run=run)


def _merge(w):
    from valuecrm.duplicates.merge import customer_merge

    return customer_merge(actor=w["admin"], survivor=w["a"], merged=w["b"])


def _merge_undo(w):
    from valuecrm.duplicates.merge import customer_merge_undo

    return customer_merge_undo(actor=w["admin"], merge=_merge(w))


def _dismiss(w):
    from valuecrm.duplicates.duplicates import duplicate_scan
    from valuecrm.duplicates.models import DuplicateCandidate
    from valuecrm.duplicates.services import duplicate_dismiss

    duplicate_scan()
    candidate = DuplicateCandidate.objects.first()
    if candidate is None:  # the scan found nothing: make the pair by hand
        lo, hi = sorted([w["a"].pk, w["b"].pk])
        candidate = DuplicateCandidate.objects.create(customer_a_id=lo, customer_b_id=hi, score=50)
    return duplicate_dismiss(actor=w["admin"], pk=candidate.pk)


def _endpoint(w):
    from valuecrm.webhooks.webhooks import endpoint_create

    return endpoint_create(actor=w["admin"], data={"name": "m", "url": "http://127.0.0.1:9/",
                                                   "event_types": ["customer.created"]})


def _score(w):
    from valuecrm.insights.services.scoring import score_now

    return score_now(as_of=dt.date(2025, 7, 1), requested_by=w["admin"])


def _rule(w):
    return S("automation.services", "rule_create")(actor=w["admin"], data={
        "name": "r", "trigger": {"event": "customer.created"}, "actions": [{"type": "add_tag", "tag": "x"}]})


def S(module, name):  # noqa: N802 — reads like the import it stands for
    return getattr(importlib.import_module(f"valuecrm.{module}"), name)


# function name → (call, an event name it must emit)
CALLS = {
    "tasks_bulk_create": (lambda w: S("customers.services", "tasks_bulk_create")(
        actor=w["admin"], tasks=[{"title": "跟进", "customer_id": w["a"].pk}]), "task.created"),
    "rule_create": (lambda w: _rule(w), "automation_rule.changed"),
    "rule_update": (lambda w: S("automation.services", "rule_update")(
        actor=w["admin"], rule=_rule(w), data={"enabled": False}), "automation_rule.changed"),
    "rule_delete": (lambda w: S("automation.services", "rule_delete")(
        actor=w["admin"], rule=_rule(w)), "automation_rule.changed"),
    "user_create": (lambda w: S("accounts.services", "user_create")(username="new", password="pw-1234567890"),
                    "config.changed"),
    "admin_ensure": (lambda w: S("accounts.services", "admin_ensure")(username="boss", password="pw-1234567890"),
                     "config.changed"),
    "api_token_create": (lambda w: S("accounts.services", "api_token_create")(user=w["admin"]), "config.changed"),
    "api_token_revoke": (lambda w: S("accounts.services", "api_token_revoke")(
        token=S("accounts.services", "api_token_create")(user=w["admin"])[0]), "config.changed"),
    "customer_create": (lambda w: S("customers.services", "customer_create")(
        actor=w["admin"], data={"name": "新客户"}), "customer.created"),
    "customer_update": (lambda w: S("customers.services", "customer_update")(
        actor=w["admin"], customer=w["a"], data={"city": "苏州"}), "customer.updated"),
    "customer_delete": (lambda w: S("customers.services", "customer_delete")(
        actor=w["admin"], customer=w["b"]), "customer.deleted"),
    "contact_point_add": (lambda w: S("customers.services", "contact_point_add")(
        actor=w["admin"], customer=w["a"], kind="phone", value="13800138000"), "contact_point.added"),
    "contact_point_delete": (lambda w: S("customers.services", "contact_point_delete")(
        actor=w["admin"], contact_point=w["point"]), "contact_point.deleted"),
    "note_create": (lambda w: S("customers.services", "note_create")(
        actor=w["admin"], customer=w["a"], body="备注"), "note.added"),
    "interaction_create": (lambda w: S("customers.services", "interaction_create")(
        actor=w["admin"], customer=w["a"], kind="email"), "interaction.logged"),
    "interaction_update": (lambda w: S("customers.services", "interaction_update")(
        actor=w["admin"], interaction=w["interaction"], data={"subject": "回电"}), "interaction.updated"),
    "interaction_delete": (lambda w: S("customers.services", "interaction_delete")(
        actor=w["admin"], interaction=w["interaction"]), "interaction.deleted"),
    "task_create": (lambda w: S("customers.services", "task_create")(
        actor=w["admin"], title="跟进", customer=w["a"]), "task.created"),
    "task_update": (lambda w: S("customers.services", "task_update")(
        actor=w["admin"], task=w["task"], data={"done": True}), "task.completed"),
    "task_delete": (lambda w: S("customers.services", "task_delete")(actor=w["admin"], task=w["task"]),
                    "task.deleted"),
    "customers_bulk_tag": (lambda w: S("customers.services", "customers_bulk_tag")(
        actor=w["admin"], customer_ids=[w["a"].pk], tag_names=["挽回"]), "customer.tagged"),
    "customers_bulk_untag": (lambda w: (S("customers.services", "customers_bulk_tag")(
        actor=w["admin"], customer_ids=[w["a"].pk], tag_names=["挽回"]),
        S("customers.services", "customers_bulk_untag")(
        actor=w["admin"], customer_ids=[w["a"].pk], tag_names=["挽回"])), "customer.untagged"),
    "customers_bulk_assign": (lambda w: S("customers.services", "customers_bulk_assign")(
        actor=w["admin"], customer_ids=[w["a"].pk], owner=w["rep"]), "customer.owner_changed"),
    "saved_view_create": (lambda w: S("customers.saved_views", "saved_view_create")(
        actor=w["admin"], name="高价值"), "config.changed"),
    "saved_view_delete": (lambda w: S("customers.saved_views", "saved_view_delete")(
        actor=w["admin"], view=S("customers.saved_views", "saved_view_create")(actor=w["admin"], name="x")),
        "config.changed"),
    "product_create": (lambda w: S("orders.services", "product_create")(
        actor=w["admin"], data={"sku": "SKU-2", "name": "茶具", "price": "10"}), "product.changed"),
    "product_update": (lambda w: S("orders.services", "product_update")(
        actor=w["admin"], product=w["product"], data={"name": "红茶"}), "product.changed"),
    "product_delete": (lambda w: S("orders.services", "product_delete")(actor=w["admin"], product=w["product"]),
                       "product.changed"),
    "order_create": (lambda w: S("orders.services", "order_create")(actor=w["admin"], data={
        "customer_id": w["a"].pk, "external_id": "A-2", "placed_at": "2026-01-03T10:00:00+08:00",
        "total_amount": "50.00"}), "order.created"),
    "order_update_status": (lambda w: S("orders.services", "order_update_status")(
        actor=w["admin"], order=w["order"], status="paid"), "order.status_changed"),
    "customer_merge": (_merge, "customer.merged"),
    "customer_merge_undo": (_merge_undo, "customer.merge_undone"),
    "duplicate_dismiss": (_dismiss, "config.changed"),
    "endpoint_create": (_endpoint, "config.changed"),
    "endpoint_update": (lambda w: S("webhooks.webhooks", "endpoint_update")(
        actor=w["admin"], endpoint=_endpoint(w), data={"name": "n", "url": "http://127.0.0.1:9/",
                                                       "event_types": ["order.created"]}), "config.changed"),
    "endpoint_delete": (lambda w: S("webhooks.webhooks", "endpoint_delete")(
        actor=w["admin"], endpoint=_endpoint(w)), "config.changed"),
    "inbound_source_create": (lambda w: S("webhooks.inbound", "inbound_source_create")(
        actor=w["admin"], key="shop", name="Shop", run_as=w["admin"]), "config.changed"),
    "import_run_now": (_import, "import.finished"),
    "import_undo": (_undo_import, "import.undone"),
    "policy_update": (lambda w: S("insights.services.policies", "policy_update")(
        actor=w["admin"], policy="warning_policy", data={"task_due_days": 3}), "config.changed"),
    "playbook_entry_set": (lambda w: S("insights.services.policies", "playbook_entry_set")(
        actor=w["admin"], stage="at_risk", tier="A", action_code="call", text_en="Call", text_zh="致电"),
        "config.changed"),
    "playbook_entry_clear": (lambda w: S("insights.services.policies", "playbook_entry_clear")(
        actor=w["admin"], stage="at_risk", tier="A"), "config.changed"),
    "score_now": (_score, "score_run.finished"),
}


# opspages: users & teams administration, customer archive.
SERVICE_MODULES.append("valuecrm.accounts.administration")
CALLS.update({
    "user_admin_create": (lambda w: S("accounts.administration", "user_admin_create")(
        actor=w["admin"], data={"username": "ops1", "role": "sales_rep"}), "config.changed"),
    "user_admin_update": (lambda w: S("accounts.administration", "user_admin_update")(
        actor=w["admin"], user=w["rep"], data={"role": "marketer"}), "config.changed"),
    "user_password_set": (lambda w: S("accounts.administration", "user_password_set")(
        actor=w["admin"], user=w["rep"], password="Green-Tea-77!"), "config.changed"),
    "user_password_reset_send": (lambda w: S("accounts.administration", "user_password_reset_send")(
        actor=w["admin"], user=S("accounts.administration", "user_admin_create")(
            actor=w["admin"], data={"username": "ops2", "email": "ops2@example.cn"}),
        domain="crm.example.cn", use_https=True), "config.changed"),
    "team_create": (lambda w: S("accounts.administration", "team_create")(actor=w["admin"], name="华东"),
                    "config.changed"),
    "team_rename": (lambda w: S("accounts.administration", "team_rename")(
        actor=w["admin"], team=w["rep"].team, name="华北"), "config.changed"),
    "team_members_set": (lambda w: S("accounts.administration", "team_members_set")(
        actor=w["admin"], team=w["rep"].team, user_ids=[w["rep"].pk]), "config.changed"),
    "customer_archive": (lambda w: S("customers.services", "customer_archive")(
        actor=w["admin"], customer=w["b"]), "customer.archived"),
    "customer_unarchive": (lambda w: S("customers.services", "customer_unarchive")(
        actor=w["admin"], customer=S("customers.services", "customer_archive")(actor=w["admin"], customer=w["b"])),
        "customer.unarchived"),
})

def test_every_public_service_function_is_classified():
    found = set(_public_functions())
    unclassified = sorted(found - set(CALLS) - set(NOT_A_BUSINESS_WRITE))
    assert unclassified == [], f"new service functions need an event (or a reason): {unclassified}"
    assert sorted(set(CALLS) - found) == []  # no stale entries
    assert sorted(set(NOT_A_BUSINESS_WRITE) - found) == []


@pytest.mark.parametrize("name", sorted(CALLS))
def test_service_emits(name, world):
    call, expected = CALLS[name]
    before = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    call(world)
    emitted = set(OutboxEvent.objects.filter(seq__gt=before).values_list("name", flat=True))
    assert expected in emitted, f"{name} emitted {sorted(emitted)}"


# ---------------------------------------------------------------- privacy
SERVICE_MODULES += ["valuecrm.privacy.services", "valuecrm.privacy.export", "valuecrm.privacy.erasure"]
NOT_A_BUSINESS_WRITE.update({
    "consent_follow_legacy": "mirrors consent booleans whose change already emitted customer.* / import.finished",
    "personal_data": "read", "identifiers": "read",
})
CALLS.update({
    "consent_record": (lambda w: S("privacy.services", "consent_record")(
        actor=w["admin"], customer=w["a"], channel="email", purpose="marketing", granted=True), "consent.recorded"),
    "consent_text_publish": (lambda w: S("privacy.services", "consent_text_publish")(
        actor=w["admin"], purpose="marketing", body="Offers by e-mail"), "consent.text_published"),
    "personal_data_export": (lambda w: S("privacy.export", "personal_data_export")(
        actor=w["admin"], customer=w["a"]), "customer.personal_data_exported"),
    "customer_erase": (lambda w: S("privacy.erasure", "customer_erase")(
        actor=w["admin"], customer=w["a"]), "customer.erased"),
})


# ---------------------------------------------------------------- service (tickets and SLAs)
SERVICE_MODULES += ["valuecrm.service.services", "valuecrm.service.mail", "valuecrm.service.surveys"]
NOT_A_BUSINESS_WRITE.update({
    "survey_token": "helper", "survey_link": "helper", "is_low": "helper", "survey_from_token": "read",
    "on_ticket_solved": "subscriber calling survey_send (covered)",
    "customer_value_facts": "read", "policy_for": "read", "least_busy_agent": "read", "ticket_token": "helper",
    "poll_imap": "files each message through inbound_email (covered)",
    "agent_available": "read", "team_settings": "read", "escalation_targets": "read",
    "route_ticket": "picks the assignee inside ticket_create (covered); moves only the round-robin cursor",
    "attachment_max_bytes": "read", "attachments_root": "helper",
})
_OFFICE = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]
_MONDAY_10 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing


def _svc_ticket(w, **data):
    cal = S("service.services", "calendar_save")(actor=w["admin"], data={
        "name": "BJ", "timezone": "Asia/Shanghai", "hours": _OFFICE})
    S("service.services", "sla_policy_save")(actor=w["admin"], data={
        "name": "N", "calendar_id": cal.pk, "priority": "normal", "first_response_minutes": 10,
        "resolution_minutes": 60})
    return S("service.services", "ticket_create")(actor=w["admin"], data={
        "customer_id": w["a"].pk, "subject": "快递破损", **data}, now=_MONDAY_10 - dt.timedelta(minutes=30))


def _svc_team():
    from valuecrm.accounts.models import Team

    return Team.objects.create(name="一线客服")


def _svc_mail(subject, message_id, in_reply_to=""):
    extra = f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else ""
    return (f"From: wf@example.cn\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n{extra}\r\n"
            "罐子压坏了\r\n").encode()


_SERVICE_CALLS = {
    "calendar_save": (lambda w: S("service.services", "calendar_save")(actor=w["admin"], data={
        "name": "BJ", "hours": _OFFICE}), "config.changed"),
    "sla_policy_save": (lambda w: _svc_ticket(w), "config.changed"),
    "ticket_create": (lambda w: _svc_ticket(w), "ticket.created"),
    "ticket_update": (lambda w: S("service.services", "ticket_update")(
        actor=w["admin"], ticket=_svc_ticket(w), data={"status": "waiting"}), "ticket.status_changed"),
    "ticket_reply": (lambda w: S("service.services", "ticket_reply")(
        actor=w["admin"], ticket=_svc_ticket(w), body="您好", kind="note"), "ticket.replied"),
    "sla_sweep": (lambda w: (_svc_ticket(w), S("service.services", "sla_sweep")(now=_MONDAY_10)),
                  "ticket.sla_breached"),
    "ticket_create_from_channel": (lambda w: S("service.services", "ticket_create_from_channel")(
        customer=w["a"], subject="发票", body="请开发票", channel="web"), "ticket.created"),
    "ticket_customer_message": (lambda w: S("service.services", "ticket_customer_message")(
        ticket=_svc_ticket(w), body="还没到"), "ticket.replied"),
    "service_team_save": (lambda w: S("service.services", "service_team_save")(
        actor=w["admin"], team=_svc_team(), data={"routing": "skills"}), "config.changed"),
    "attachment_add": (lambda w: S("service.services", "attachment_add")(
        actor=w["admin"], ticket=_svc_ticket(w), name="单据.txt", chunks=[b"ok"]), "ticket.attachment_added"),
    "agent_profile_save": (lambda w: S("service.services", "agent_profile_save")(
        actor=w["admin"], user=w["admin"], data={"skills": ["发票"]}), "config.changed"),
    "system_status_change": (lambda w: S("service.services", "system_status_change")(
        _svc_ticket(w), "on_hold"), "ticket.status_changed"),
    "inbound_email": (lambda w: S("service.mail", "inbound_email")(_svc_mail("破损", "<m1@x>")),
                      "ticket.created"),
    "survey_send": (lambda w: S("service.surveys", "survey_send")(customer=w["a"], kind="nps"), "survey.sent"),
    "survey_answer": (lambda w: S("service.surveys", "survey_answer")(
        token=S("service.surveys", "survey_token")(S("service.surveys", "survey_send")(customer=w["a"], kind="nps")),
        score=9), "survey.answered"),
}
# Feedback analysis (service.feedback) and the single-alert service it calls (insights).
SERVICE_MODULES += ["valuecrm.service.feedback", "valuecrm.insights.services.alerts"]
NOT_A_BUSINESS_WRITE.update({
    "sentiment_version": "helper", "model_version": "helper", "label_for": "helper", "current_model": "read",
    "texts_for_events": "read", "topic_words": "read", "topic_of": "helper", "alert_settings": "read",
    "on_feedback_events": "subscriber calling feedback_analyse (covered)",
    "topics_refresh": "recomputes derived topic labels of stored analyses; no record changes",
})


def _svc_feedback_text(w):
    from valuecrm.service.feedback import FeedbackText

    ticket = _svc_ticket(w, description="快递破损")
    return [FeedbackText("ticket", ticket.pk, ticket.customer_id, ticket.description, ticket.opened_at)]


_SERVICE_CALLS.update({
    "feedback_analyse": (lambda w: S("service.feedback", "feedback_analyse")(_svc_feedback_text(w)),
                         "feedback.analysed"),
    "feedback_backfill": (lambda w: (_svc_ticket(w, description="发票开错了"),
                                     S("service.feedback", "feedback_backfill")(train=False)), "feedback.analysed"),
    "raise_alert": (lambda w: S("insights.services.alerts", "raise_alert")(
        w["a"], "negative_feedback", {"source": "survey", "score": 0.1, "excerpt": "太差"}), "value_alert.raised"),
})
CALLS.update(_SERVICE_CALLS)


# test_service_emits was parametrized before these entries existed.
@pytest.mark.parametrize("name", sorted(_SERVICE_CALLS))
def test_service_app_emits(name, world):
    test_service_emits(name, world)
# ---------------------------------------------------------------- marketing
SERVICE_MODULES.append("valuecrm.marketing.services")
NOT_A_BUSINESS_WRITE.update({
    "audience": "read", "campaign_audience": "read", "global_control_percent": "read",
    "in_global_control": "check", "base_url": "helper", "in_quiet_hours": "check", "quiet_hours_end": "helper",
    "recently_messaged": "read", "eligibility": "check", "merge_context": "read",
    "campaign_send": "the worker half of campaign_launch; emits message.sent per message (tests/marketing)",
    "message_send": "emits message.sent; needs the SMTP server of tests/marketing/test_sending.py",
    "recommendations_rebuild": "recomputes derived product affinities; no record changes",
    "wanted_merge_fields": "read", "variant_templates": "read", "uplift_scores": "read", "uplift_top": "read",
    "uplift_train": "emits uplift_model.trained; needs two finished campaigns with hold-outs (tests/marketing)",
    "ab_decide_due": "the worker's sweep; wrapper of ab_decide (covered)",
})


def _mk_template(w):
    return S("marketing.services", "template_create")(actor=w["admin"], data={
        "name": "T", "subject": "Hi", "body_text": "Hello"})


def _mk_segment(w):
    return S("marketing.services", "segment_create")(actor=w["admin"], data={"name": "S", "filters": {}})


def _mk_campaign(w):
    return S("marketing.services", "campaign_create")(actor=w["admin"], data={
        "name": "C", "template_id": _mk_template(w).pk})


def _mk_message(w):
    from valuecrm.marketing.models import Message

    return Message.objects.create(key="k", customer=w["a"], channel="email", status="sent")


def _launched(w):
    return S("marketing.services", "campaign_launch")(actor=w["admin"], campaign=_mk_campaign(w), queue=False)


CALLS.update({
    "segment_create": (_mk_segment, "config.changed"),
    "segment_update": (lambda w: S("marketing.services", "segment_update")(
        actor=w["admin"], segment=_mk_segment(w), data={"name": "S2"}), "config.changed"),
    "segment_delete": (lambda w: S("marketing.services", "segment_delete")(
        actor=w["admin"], segment=_mk_segment(w)), "config.changed"),
    "segment_snapshot": (lambda w: S("marketing.services", "segment_snapshot")(
        actor=w["admin"], segment=_mk_segment(w)), "segment.snapshot_taken"),
    "template_create": (_mk_template, "config.changed"),
    "template_update": (lambda w: S("marketing.services", "template_update")(
        actor=w["admin"], template=_mk_template(w), data={"name": "T2"}), "config.changed"),
    "template_delete": (lambda w: S("marketing.services", "template_delete")(
        actor=w["admin"], template=_mk_template(w)), "config.changed"),
    "campaign_create": (_mk_campaign, "config.changed"),
    "campaign_update": (lambda w: S("marketing.services", "campaign_update")(
        actor=w["admin"], campaign=_mk_campaign(w), data={"name": "C2"}), "config.changed"),
    "campaign_delete": (lambda w: S("marketing.services", "campaign_delete")(
        actor=w["admin"], campaign=_mk_campaign(w)), "config.changed"),
    "campaign_launch": (_launched, "campaign.launched"),
    "campaign_enrol": (lambda w: S("marketing.services", "campaign_enrol")(
        actor=w["admin"], campaign=_launched(w), customer=S("customers.services", "customer_create")(
            actor=w["admin"], data={"name": "新客"}), queue=False), "campaign.enrolled"),
    "message_open": (lambda w: S("marketing.services", "message_open")(token=_mk_message(w).token),
                     "message.opened"),
    "message_click": (lambda w: S("marketing.services", "message_click")(
        token=_mk_message(w).token, url="https://shop.example.cn/"), "message.clicked"),
    "unsubscribe": (lambda w: S("marketing.services", "unsubscribe")(token=_mk_message(w).token),
                    "customer.unsubscribed"),
    "suppression_add": (lambda w: S("marketing.services", "suppression_add")(
        actor=w["admin"], customer=w["a"], channel="sms"), "customer.unsubscribed"),
    "ab_decide": (lambda w: S("marketing.services", "ab_decide")(campaign_id=_launched_ab(w).pk, queue=False),
                  "campaign.variant_chosen"),
})


def _launched_ab(w):
    import datetime as dt

    from django.utils import timezone

    a, b = _mk_template(w), _mk_template(w)
    campaign = S("marketing.services", "campaign_create")(actor=w["admin"], data={
        "name": "AB", "template_id": a.pk, "variant_template_ids": [a.pk, b.pk], "ab_wait_hours": 1})
    return S("marketing.services", "campaign_launch")(actor=w["admin"], campaign=campaign, queue=False,
                                                      now=timezone.now() - dt.timedelta(hours=2))
