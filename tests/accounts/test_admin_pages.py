"""Users, teams and roles pages: administrators only, every change through
accounts.administration (permission first, errors by field, nothing half-written),
and Django admin for superusers only."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from valuecrm.accounts import administration
from valuecrm.accounts.capabilities import Capability
from valuecrm.accounts.models import Team, User
from valuecrm.common.errors import PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent

pytestmark = pytest.mark.django_db

PAGES = ["admin-users", "admin-user-create", "admin-teams", "admin-roles"]


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boss(make_user):
    # An administrator by role, not a superuser: the pages must not rely on is_superuser.
    return make_user("boss", role="admin", email="boss@example.cn")


@pytest.mark.parametrize("name", PAGES)
def test_only_administrators_open_the_pages(name, boss, manager_north):
    assert client_for(boss).get(reverse(name)).status_code == 200
    assert client_for(manager_north).get(reverse(name)).status_code == 403


def test_services_refuse_non_administrators(manager_north, rep_north, team_north):
    with pytest.raises(PermissionDenied):
        administration.user_admin_update(actor=manager_north, user=rep_north, data={"role": "admin"})
    with pytest.raises(PermissionDenied):
        administration.team_create(actor=manager_north, name="East")
    rep_north.refresh_from_db()
    assert rep_north.role == "sales_rep" and not Team.objects.filter(name="East").exists()


def test_create_user_with_password_role_and_team(boss, team_north):
    before = OutboxEvent.objects.filter(name="config.changed").count()
    response = client_for(boss).post(reverse("admin-user-create"), {
        "username": "liuyang", "first_name": "洋", "last_name": "刘", "email": "LY@Example.cn",
        "role": "sales_manager", "team": team_north.pk, "language": "zh-hans", "password": "Tea-Leaf-2026!"})
    user = User.objects.get(username="liuyang")
    assert response.status_code == 302 and response["Location"] == reverse("admin-user-edit", args=[user.pk])
    assert (user.role, user.team, user.email, user.display_name) == ("sales_manager", team_north, "ly@example.cn", "刘洋")
    assert user.check_password("Tea-Leaf-2026!")
    assert OutboxEvent.objects.filter(name="config.changed").count() == before + 1
    assert mail.outbox == []


def test_create_user_without_password_mails_a_set_password_link(boss):
    client_for(boss).post(reverse("admin-user-create"), {
        "username": "newbie", "email": "newbie@example.cn", "role": "sales_rep"})
    user = User.objects.get(username="newbie")
    assert not user.has_usable_password()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["newbie@example.cn"]
    assert "/password-reset/" in mail.outbox[0].body


@pytest.mark.parametrize("data, field", [
    ({"username": "", "role": "sales_rep"}, "username"),
    ({"username": "rep_north", "role": "sales_rep"}, "username"),
    ({"username": "x1", "role": "emperor"}, "role"),
    ({"username": "x2", "role": "sales_rep", "password": "123"}, "password"),
    ({"username": "x3", "role": "sales_rep", "email": "not-an-email"}, "email"),
])
def test_bad_user_input_is_422_naming_the_field_and_creates_nobody(boss, rep_north, data, field):
    count = User.objects.count()
    response = client_for(boss).post(reverse("admin-user-create"), data)
    assert response.status_code == 422
    assert field in response.context["form"].errors
    assert User.objects.count() == count


def test_edit_role_team_and_deactivate(boss, rep_north, team_south):
    response = client_for(boss).post(reverse("admin-user-edit", args=[rep_north.pk]), {
        "username": "rep_north", "role": "support_agent", "team": team_south.pk, "is_active": ""})
    assert response.status_code == 302
    rep_north.refresh_from_db()
    assert (rep_north.role, rep_north.team, rep_north.is_active) == ("support_agent", team_south, False)
    assert OutboxEvent.objects.filter(name="config.changed", payload__action="deactivated").exists()


def test_an_administrator_cannot_lock_themselves_out(boss):
    response = client_for(boss).post(reverse("admin-user-edit", args=[boss.pk]), {
        "username": "boss", "role": "sales_rep", "is_active": ""})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert errors["is_active"] == ["You cannot deactivate your own account."]
    assert errors["role"] == ["You cannot take the administrator role away from yourself."]
    boss.refresh_from_db()
    assert boss.is_active and boss.role == "admin"


def test_set_password_and_send_reset_link(boss, rep_north):
    client = client_for(boss)
    weak = client.post(reverse("admin-user-password", args=[rep_north.pk]), {"password": "abc"})
    assert weak.status_code == 422 and "password" in weak.context["password_form"].errors
    rep_north.refresh_from_db()
    assert rep_north.check_password("pw-123456789")

    ok = client.post(reverse("admin-user-password", args=[rep_north.pk]), {"password": "Green-Tea-77!"})
    assert ok.status_code == 302
    rep_north.refresh_from_db()
    assert rep_north.check_password("Green-Tea-77!")

    # No e-mail address: the link cannot go out, and the page says why.
    page = client.post(reverse("admin-user-reset-mail", args=[rep_north.pk]), follow=True)
    assert "This user has no e-mail address." in page.content.decode() and mail.outbox == []
    rep_north.email = "rep@example.cn"
    rep_north.save()
    client.post(reverse("admin-user-reset-mail", args=[rep_north.pk]))
    assert [m.to for m in mail.outbox] == [["rep@example.cn"]]


def test_user_list_filters(boss, rep_north, rep_south, team_north):
    client = client_for(boss)
    names = lambda params: [u.username for u in client.get(reverse("admin-users"), params).context["page"]]  # noqa: E731
    assert names({"team": team_north.pk}) == ["rep_north"]
    assert names({"role": "admin"}) == ["boss"]
    assert names({"q": "south"}) == ["rep_south"]
    rep_south.is_active = False
    rep_south.save()
    assert names({"status": "inactive"}) == ["rep_south"]


def test_team_create_rename_and_members(boss, rep_north, rep_south, team_north):
    client = client_for(boss)
    created = client.post(reverse("admin-teams"), {"name": "华东"})
    east = Team.objects.get(name="华东")
    assert created.status_code == 302

    dup = client.post(reverse("admin-team-edit", args=[east.pk]), {"form": "rename", "rename-name": "north"})
    assert dup.status_code == 422
    assert dup.context["rename_form"].errors["name"] == ["A team with this name already exists."]
    client.post(reverse("admin-team-edit", args=[east.pk]), {"form": "rename", "rename-name": "华东一组"})
    east.refresh_from_db()
    assert east.name == "华东一组"

    # rep_north moves from North to the new team; rep_south joins it.
    client.post(reverse("admin-team-edit", args=[east.pk]), {
        "form": "members", "members-members": [rep_north.pk, rep_south.pk]})
    assert set(east.members.values_list("username", flat=True)) == {"rep_north", "rep_south"}
    assert not team_north.members.exists()
    # Unticking takes someone off the team.
    client.post(reverse("admin-team-edit", args=[east.pk]), {"form": "members", "members-members": [rep_south.pk]})
    rep_north.refresh_from_db()
    assert rep_north.team is None


def test_team_members_refuse_unknown_users(boss, team_north):
    with pytest.raises(ValidationFailed) as exc:
        administration.team_members_set(actor=boss, team=team_north, user_ids=[987654])
    assert exc.value.errors == {"members": ["Unknown user."]}


def test_roles_page_is_the_capability_table(boss):
    page = client_for(boss).get(reverse("admin-roles"))
    rows = {row["capability"]: row["granted"] for row in page.context["rows"]}
    roles = [r["value"] for r in page.context["roles"]]
    assert set(rows) == set(Capability)
    assert rows[Capability.ADMIN_USERS][roles.index("admin")] is True
    assert rows[Capability.ADMIN_USERS][roles.index("sales_manager")] is False
    assert rows[Capability.ORDERS_CHANGE][roles.index("sales_rep")] is True
    assert not any(rows[c][roles.index("read_only")] for c in Capability)


def test_pages_in_chinese(boss):
    html = client_for(boss).get(reverse("admin-roles"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "用户与团队" in html and "权限" in html and "管理员" in html


def test_django_admin_is_for_superusers_only(make_user, admin_user):
    staff = make_user("staffer", role="admin")
    staff.is_staff = True
    staff.save()
    response = client_for(staff).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client_for(admin_user).get("/admin/").status_code == 200
    sidebar = client_for(staff).get(reverse("admin-users")).content.decode()
    assert 'href="/admin/"' not in sidebar and 'href="/settings/users/"' in sidebar


def test_saving_members_keeps_deactivated_members_listed(boss, rep_north, team_north):
    rep_north.is_active = False
    rep_north.save()
    page = client_for(boss).get(reverse("admin-team-edit", args=[team_north.pk]))
    assert rep_north in page.context["members_form"].fields["members"].queryset


def test_unknown_language_is_refused(boss, rep_north):
    with pytest.raises(ValidationFailed) as exc:
        administration.user_admin_update(actor=boss, user=rep_north, data={"language": "xx"})
    assert exc.value.errors == {"language": ["Not a valid choice."]}
