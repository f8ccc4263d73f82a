"""The event outbox: written with the change, delivered after commit, once per subscriber."""

from datetime import timedelta

import pytest
from django.db import transaction

from valuecrm.common import events
from valuecrm.common.models import EventReceipt, OutboxEvent
from valuecrm.customers.services import customer_create, customer_update, customers_bulk_tag

pytestmark = pytest.mark.django_db(transaction=False)


def _crash_after_commit(django_capture_on_commit_callbacks, write):
    """Run `write`, commit, and lose the after-commit dispatch (the process 'died')."""
    with django_capture_on_commit_callbacks(execute=False):
        result = write()
    return result


def test_event_row_is_written_in_the_same_transaction(admin_user, event_recorder):
    seen = event_recorder("customer.created")
    with pytest.raises(RuntimeError), transaction.atomic():
        customer_create(actor=admin_user, data={"name": "王芳"})
        raise RuntimeError("the request fails after the service returned")
    assert not OutboxEvent.objects.filter(name="customer.created").exists()  # rolled back with it
    assert seen == []


def test_envelope_names_actor_origin_and_the_changed_fields(admin_user, event_recorder,
                                                            django_capture_on_commit_callbacks):
    seen = event_recorder("customer.created", "customer.updated", "customer.owner_changed")
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=admin_user, data={"name": "王芳", "city": "上海"})
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(actor=admin_user, customer=customer, data={"city": "苏州", "name": "王芳"})
    assert [e.name for e in seen] == ["customer.created", "customer.updated"]
    created, updated = seen
    assert created.actor_kind == "user" and created.actor_user_id == admin_user.pk
    assert created.depth == 0 and created.causation_id is None
    assert updated.event.changed_fields == ("city",)  # the unchanged name is not reported
    assert updated.event.customer_id == customer.pk


def test_an_update_that_changes_nothing_emits_nothing(admin_user, django_capture_on_commit_callbacks):
    customer = customer_create(actor=admin_user, data={"name": "王芳", "city": "上海"})
    before = OutboxEvent.objects.count()
    customer_update(actor=admin_user, customer=customer, data={"city": "上海"})
    assert OutboxEvent.objects.count() == before


def test_crash_between_commit_and_delivery_is_redelivered_exactly_once(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    first, second = event_recorder("customer.created"), event_recorder("customer.created")
    customer = _crash_after_commit(django_capture_on_commit_callbacks,
                                   lambda: customer_create(actor=admin_user, data={"name": "赵敏"}))
    row = OutboxEvent.objects.get(name="customer.created")
    assert row.dispatched_at is None and first == second == []

    # Too young: the sweep leaves it to its own request's dispatch.
    assert events.redeliver_stale() == 0
    # (the fixture's "user created" event is not among them: no subscriber takes it, so it
    # was recorded as dispatched when it was written)
    assert events.redeliver_stale(older_than=timedelta(0)) == 1
    assert [e.event.customer_id for e in first] == [customer.pk]
    assert [e.event.customer_id for e in second] == [customer.pk]
    row.refresh_from_db()
    assert row.dispatched_at is not None and row.attempts == 1
    # A second sweep (or a late original dispatch) delivers nothing again.
    assert events.redeliver_stale(older_than=timedelta(0)) == 0
    assert events.dispatch(seqs=[row.seq]) == 0
    assert len(first) == len(second) == 1


def test_a_subscriber_that_already_handled_an_event_is_skipped_on_redelivery(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    seen = event_recorder("customer.created")
    _crash_after_commit(django_capture_on_commit_callbacks,
                        lambda: customer_create(actor=admin_user, data={"name": "赵敏"}))
    row = OutboxEvent.objects.get(name="customer.created")
    # The crash came after this subscriber committed its receipt but before the row was marked.
    EventReceipt.objects.create(event=row, subscriber="test-recorder-0")
    late = event_recorder("customer.created")
    events.redeliver_stale(older_than=timedelta(0))
    assert seen == [] and len(late) == 1
    row.refresh_from_db()
    assert row.dispatched_at is not None


def test_a_failing_subscriber_is_retried_without_repeating_the_others(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    healthy = event_recorder("customer.created")
    broken_calls = []

    def broken(envelopes):
        broken_calls.append(len(envelopes))
        if len(broken_calls) == 1:
            raise RuntimeError("downstream is down")

    events.subscribe("test-flaky", broken, interests=frozenset({"customer.created"}))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            customer_create(actor=admin_user, data={"name": "周芷若"})
        row = OutboxEvent.objects.get(name="customer.created")
        assert row.dispatched_at is None and "downstream is down" in row.last_error
        assert len(healthy) == 1
        events.redeliver_stale(older_than=timedelta(0))
        row.refresh_from_db()
        assert row.dispatched_at is not None
        assert broken_calls == [1, 1] and len(healthy) == 1
    finally:
        events.unsubscribe("test-flaky")


def test_worker_subscribers_get_events_through_the_queue(admin_user, event_recorder, huey_immediate,
                                                         django_capture_on_commit_callbacks):
    seen = event_recorder("customer.created", inline=False)
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=admin_user, data={"name": "张无忌"})
    assert len(seen) == 1
    assert OutboxEvent.objects.get(name="customer.created").dispatched_at is not None


def test_events_emitted_while_handling_one_carry_its_cause(admin_user, event_recorder,
                                                           django_capture_on_commit_callbacks):
    seen = event_recorder("customer.updated")
    customer = customer_create(actor=admin_user, data={"name": "张无忌"})
    cause = events.Cause(event_id="0" * 32, depth=2)
    with events.caused_by(cause), events.acting(events.ActorKind.AUTOMATION, "automation"), \
            django_capture_on_commit_callbacks(execute=True):
        customer_update(actor=admin_user, customer=customer, data={"city": "杭州"})
    (envelope,) = seen
    assert envelope.causation_id == "0" * 32 and envelope.depth == 3
    assert envelope.actor_kind == "automation" and envelope.origin == "automation"


def test_api_token_writes_name_the_token(api_client_for, admin_user, event_recorder):
    client = api_client_for(admin_user)
    response = client.post("/api/v1/customers", {"name": "李雷"}, content_type="application/json")
    assert response.status_code == 201, response.content
    row = OutboxEvent.objects.get(name="customer.created")
    assert row.actor_kind == "api_token" and row.origin == "api"
    assert row.token_id == admin_user.api_tokens.get().pk


def test_page_writes_are_user_actions_from_the_web(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/customers/new/", {"name": "李雷", "kind": "person"})
    assert response.status_code in (200, 302)
    row = OutboxEvent.objects.get(name="customer.created")
    assert (row.actor_kind, row.origin, row.actor_user_id) == ("user", "web", admin_user.pk)


def test_bulk_tag_emits_one_batch_and_one_event_per_customer_in_constant_queries(
        admin_user, django_assert_max_num_queries, django_capture_on_commit_callbacks, event_recorder):
    from valuecrm.customers.models import Customer

    tagged = event_recorder("customer.tagged", "customers.bulk_changed")
    small = [customer_create(actor=admin_user, data={"name": f"客户{i}"}).pk for i in range(5)]
    with django_assert_max_num_queries(25) as few, django_capture_on_commit_callbacks(execute=True):
        customers_bulk_tag(actor=admin_user, customer_ids=small, tag_names=["挽回"])
    Customer.objects.bulk_create([Customer(name=f"批量{i}", owner=admin_user) for i in range(300)])
    many = list(Customer.objects.filter(name__startswith="批量").values_list("pk", flat=True))
    with django_assert_max_num_queries(len(few.captured_queries)), \
            django_capture_on_commit_callbacks(execute=True):
        customers_bulk_tag(actor=admin_user, customer_ids=many, tag_names=["挽回"])
    batches = [e.event for e in tagged if e.name == "customers.bulk_changed"]
    assert [(b.action, b.count) for b in batches] == [("tag", 5), ("tag", 300)]
    per_customer = [e.event for e in tagged if e.name == "customer.tagged"]
    assert len(per_customer) == 305 and {e.tags for e in per_customer} == {("挽回",)}
    # Tagging again adds nothing, so nothing is announced per customer.
    customers_bulk_tag(actor=admin_user, customer_ids=many, tag_names=["挽回"])
    assert OutboxEvent.objects.filter(name="customer.tagged").count() == 305


def test_owner_change_and_tags_on_update_raise_their_own_events(admin_user, rep_north, event_recorder,
                                                                django_capture_on_commit_callbacks):
    seen = event_recorder("customer.owner_changed", "customer.tagged", "customer.untagged")
    customer = customer_create(actor=admin_user, data={"name": "李雷", "tags": ["vip"]})
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(actor=admin_user, customer=customer,
                        data={"owner_id": rep_north.pk, "tags": ["挽回"]})
    by_name = {e.name: e.event for e in seen}
    assert by_name["customer.owner_changed"].from_owner_id == admin_user.pk
    assert by_name["customer.owner_changed"].to_owner_id == rep_north.pk
    assert by_name["customer.tagged"].tags == ("挽回",)
    assert by_name["customer.untagged"].tags == ("vip",)


def test_purge_keeps_undelivered_events(admin_user, django_capture_on_commit_callbacks):
    _crash_after_commit(django_capture_on_commit_callbacks,
                        lambda: customer_create(actor=admin_user, data={"name": "甲"}))
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=admin_user, data={"name": "乙"})
    OutboxEvent.objects.update(occurred_at=OutboxEvent.objects.first().occurred_at - timedelta(days=40))
    OutboxEvent.objects.filter(dispatched_at__isnull=False).update(
        dispatched_at=OutboxEvent.objects.first().occurred_at)
    assert events.purge_dispatched(older_than=timedelta(days=30)) >= 1
    assert OutboxEvent.objects.filter(dispatched_at__isnull=True).count() == 1  # 甲's


def test_an_event_no_subscriber_takes_is_recorded_dispatched_and_costs_nothing_after_commit(
        admin_user, django_capture_on_commit_callbacks):
    customer = customer_create(actor=admin_user, data={"name": "丙"})
    with django_capture_on_commit_callbacks() as callbacks:
        customer_update(actor=admin_user, customer=customer, data={"job_title": "店长"})
    row = OutboxEvent.objects.get(name="customer.updated")
    assert row.dispatched_at is not None and callbacks == []
    # A consent change is taken (privacy's ledger follows it): dispatched after commit.
    with django_capture_on_commit_callbacks() as callbacks:
        customer_update(actor=admin_user, customer=customer, data={"consent_email": True})
    assert len(callbacks) == 1
    assert OutboxEvent.objects.filter(name="customer.updated", dispatched_at__isnull=True).count() == 1


def test_every_event_name_is_dotted_and_unique():
    names = list(events.EVENT_TYPES)
    assert len(names) == len(set(names))
    assert all(name.count(".") == 1 and name == name.lower() for name in names)
    for name in ("customer.created", "customer.updated", "customer.deleted", "customer.merged",
                 "customer.owner_changed", "customer.tagged", "order.created", "order.status_changed",
                 "interaction.logged", "task.created", "task.completed", "note.added", "import.finished",
                 "customer.stage_changed", "value_alert.raised", "score_run.finished"):
        assert name in names


# ---------------------------------------------------------------- one inline subscriber: a claim, no receipt
# (customer.updated of a job title: no built-in subscriber takes it, so the recorder is the only one)

def _retitle(actor, customer):
    customer_update(actor=actor, customer=customer, data={"job_title": "经理"})


def test_an_event_only_one_inline_subscriber_takes_is_claimed_without_a_receipt(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    seen = event_recorder("customer.updated")
    customer = customer_create(actor=admin_user, data={"name": "王芳"})
    with django_capture_on_commit_callbacks(execute=True):
        _retitle(admin_user, customer)
    row = OutboxEvent.objects.get(name="customer.updated")
    assert [e.seq for e in seen] == [row.seq] and seen[0].event.customer_id == customer.pk
    assert seen[0].event_id == row.event_id.hex and seen[0].occurred_at == row.occurred_at
    assert row.dispatched_at is not None and not EventReceipt.objects.exists()
    assert events.dispatch(seqs=[row.seq]) == 0 and len(seen) == 1


def test_a_crash_before_the_claim_is_redelivered_once_and_a_late_dispatch_does_nothing(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    seen = event_recorder("customer.updated")
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=admin_user, data={"name": "赵敏"})
    with django_capture_on_commit_callbacks(execute=False) as lost:
        _retitle(admin_user, customer)
    row = OutboxEvent.objects.get(name="customer.updated")
    assert row.dispatched_at is None and seen == []
    assert events.redeliver_stale(older_than=timedelta(0)) == 1
    assert len(seen) == 1
    for callback in lost:  # the original request's dispatch, arriving after the sweep's claim
        callback()
    assert len(seen) == 1 and not EventReceipt.objects.exists()
    assert events.redeliver_stale(older_than=timedelta(0)) == 0 and len(seen) == 1


def test_a_failing_sole_subscriber_leaves_the_event_unclaimed(admin_user, django_capture_on_commit_callbacks):
    calls = []

    def flaky(envelopes):
        calls.append(len(envelopes))
        if len(calls) == 1:
            raise RuntimeError("downstream is down")

    events.subscribe("test-flaky-sole", flaky, interests=frozenset({"customer.updated"}))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _retitle(admin_user, customer_create(actor=admin_user, data={"name": "周芷若"}))
        row = OutboxEvent.objects.get(name="customer.updated")
        assert row.dispatched_at is None and "downstream is down" in row.last_error  # the claim rolled back
        assert events.redeliver_stale(older_than=timedelta(0)) == 1
        row.refresh_from_db()
        assert row.dispatched_at is not None and calls == [1, 1]
    finally:
        events.unsubscribe("test-flaky-sole")


def test_a_sole_subscriber_with_a_receipt_from_before_is_not_called_again(
        admin_user, event_recorder, django_capture_on_commit_callbacks):
    seen = event_recorder("customer.updated")
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=admin_user, data={"name": "赵敏"})
    with django_capture_on_commit_callbacks(execute=False):
        _retitle(admin_user, customer)
    row = OutboxEvent.objects.get(name="customer.updated")
    # Handled (with a receipt) while another subscriber was interested too; that one has gone.
    EventReceipt.objects.create(event=row, subscriber="test-recorder-0")
    assert events.redeliver_stale(older_than=timedelta(0)) == 1
    row.refresh_from_db()
    assert seen == [] and row.dispatched_at is not None
