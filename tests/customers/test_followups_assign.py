"""Follow-ups given to someone else: who can be chosen, the notice in their inbox, and
the next-best action's "do it" buttons on the value card."""

import pytest
from django.urls import reverse

from tests.customers.helpers import client_for, make
from valuecrm.accounts.models import User
from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.customers.followups import assignable_users, user_follow_ups, users_who_see_q
from valuecrm.customers.models import Customer, Task
from valuecrm.customers.services import task_assignments_seen, task_create, task_update
from valuecrm.customers.visibility import can_see_customer


@pytest.fixture
def mate(make_user, team_north):
    return make_user("mate_north", role="sales_rep", team=team_north, first_name="Li", last_name="Na")


def test_assign_a_follow_up_to_a_team_mate_who_sees_the_customer(manager_north, mate, rep_south):
    customer = make("张三", owner=mate)
    task = task_create(actor=manager_north, customer=customer, title="回访", assignee=mate)
    assert (task.assignee, task.assigned_by, task.assignment_seen_at) == (mate, manager_north, None)

    inbox = user_follow_ups(user=mate)
    assert [t.pk for t in inbox.new_assignments] == [task.pk]
    assert inbox.new_assignments[0].assigned_by == manager_north
    assert task_assignments_seen(actor=mate) == 1
    assert user_follow_ups(user=mate).new_assignments == []
    # Someone of another team is not offered and cannot be chosen.
    assert rep_south not in assignable_users(manager_north, customer)
    with pytest.raises(PermissionDenied) as exc:
        task_create(actor=manager_north, customer=customer, title="x", assignee=rep_south)
    assert exc.value.errors == {"assignee_id": ["You cannot assign tasks to this user."]}


def test_the_assignee_must_see_the_customer(manager_north, mate, rep_north):
    customer = make("只归我", owner=rep_north)  # a rep sees only their own customers
    assert [u.username for u in assignable_users(manager_north, customer)] == ["mgr_north",
                                                                               "rep_north"]
    with pytest.raises(ValidationFailed) as exc:
        task_create(actor=manager_north, customer=customer, title="x", assignee=mate)
    assert exc.value.errors == {"assignee_id": [
        "Li Na cannot see this customer, so cannot work on this follow-up."]}


def test_own_tasks_and_reassigning(admin_user, mate, rep_north, manager_north):
    customer = make("客户", owner=mate)
    mine = task_create(actor=mate, customer=customer, title="自己的")
    assert mine.assigned_by is None and user_follow_ups(user=mate).new_assignments == []
    # rep_north (own scope) cannot see mate's customer, even when an admin asks.
    with pytest.raises(ValidationFailed):
        task_update(actor=admin_user, task=mine, data={"assignee_id": rep_north.pk})
    given = task_update(actor=admin_user, task=mine, data={"assignee_id": manager_north.pk})
    assert given.assignee == manager_north and given.assigned_by == admin_user
    assert [t.pk for t in user_follow_ups(user=manager_north).new_assignments] == [mine.pk]
    back = task_update(actor=manager_north, task=given, data={"assignee_id": manager_north.pk,
                                                             "title": "改名"})
    assert back.assigned_by == admin_user  # an edit that keeps the assignee keeps the notice
    taken = task_update(actor=admin_user, task=back, data={"assignee_id": admin_user.pk})
    assert (taken.assigned_by, taken.assignment_seen_at) == (None, None)


def test_users_who_see_agrees_with_visibility(make_user, team_north, team_south, admin_user,
                                              rep_north, rep_south, manager_north):
    make_user("support", role="support_agent")
    make_user("reader_north", role="read_only", team=team_north)
    make_user("mgr_south", role="sales_manager", team=team_south)
    make_user("nobody_team", role="sales_manager")
    customers = [make("a", owner=rep_north), make("b", owner=rep_south),
                 make("c", owner=None, team=team_north), make("d", owner=None, team=None),
                 make("e", owner=rep_north, team=team_south)]
    for customer in customers:
        customer = Customer.objects.select_related("owner").get(pk=customer.pk)
        expected = {u.username for u in User.objects.all() if can_see_customer(u, customer)}
        got = set(User.objects.filter(users_who_see_q(customer)).values_list("username", flat=True))
        assert got == expected, customer.name


def test_the_task_form_assigns_and_the_inbox_shows_the_notice(manager_north, mate):
    customer = make("王五", owner=mate)
    client = client_for(manager_north)
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert 'name="assignee"' in page and ">Li Na</option>" in page
    response = client.post(reverse("customer-task-add", args=[customer.pk]),
                           {"title": "送样品", "assignee": str(mate.pk)})
    assert response.status_code == 302
    task = Task.objects.get(title="送样品")
    assert task.assignee == mate and task.assigned_by == manager_north

    inbox = client_for(mate).get(reverse("inbox")).content.decode()
    assert "New for you" in inbox and "送样品" in inbox
    assert f"Assigned to you by {manager_north.display_name}" in inbox
    client_for(mate).post(reverse("inbox-assignments-seen"), {"task": str(task.pk)})
    assert "New for you" not in client_for(mate).get(reverse("inbox")).content.decode()


def test_the_task_form_refuses_someone_not_offered(manager_north, mate, rep_south):
    customer = make("王五", owner=mate)
    response = client_for(manager_north).post(
        reverse("customer-task-add", args=[customer.pk]),
        {"title": "x", "assignee": str(rep_south.pk)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert not Task.objects.filter(title="x").exists()


def test_the_next_best_action_can_be_done_from_the_card(rep_north):
    from datetime import date

    from valuecrm.insights.models import CustomerValue, ScoreRun
    from valuecrm.insights.services.playbook import ensure_default_playbook

    ensure_default_playbook()
    customer = make("流失风险", owner=rep_north)
    run = ScoreRun.objects.create(status="succeeded", as_of=date(2026, 1, 1))
    CustomerValue.objects.create(customer=customer, run=run, as_of=date(2026, 1, 1), tier="A",
                                 stage="at_risk", next_best_action="owner_call_48h")
    client = client_for(rep_north)
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert 'data-nba="call"' in page and 'data-nba="task"' in page
    call_url = reverse("customer-detail", args=[customer.pk]) + "?quick=interaction&kind=call"
    assert call_url.replace("&", "&amp;") in page

    # "Log the call" opens the call form filled in.
    page = client.get(call_url + "&subject=Owner+calls").content.decode()
    assert "open: 'interaction'" in page and 'value="Owner calls"' in page
    # "Create this follow-up" creates the suggested task.
    client.post(reverse("customer-task-add", args=[customer.pk]), {
        "title": "Owner calls within 48 hours with a retention offer",
        "description": "Next-best action"})
    task = Task.objects.get(customer=customer)
    assert (task.title, task.assignee) == ("Owner calls within 48 hours with a retention offer",
                                           rep_north)
