"""Users, teams and roles pages (administrators only): thin views over
accounts.administration. Django admin stays for superusers' repairs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from valuecrm.accounts import administration
from valuecrm.accounts.capabilities import ROLE_CAPABILITIES, Capability
from valuecrm.accounts.forms import PasswordSetForm, TeamForm, TeamMembersForm, UserForm
from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import ROLE_SCOPE, Role
from valuecrm.common.errors import PermissionDenied, ValidationFailed

PAGE_SIZE = 50


def _require_admin_page(request) -> None:
    if not request.user.can(Capability.ADMIN_USERS):
        raise DjangoPermissionDenied(_("Only administrators can manage users and teams."))


@login_required
@require_GET
def user_list(request):
    _require_admin_page(request)
    users = User.objects.select_related("team").order_by("username")
    search = request.GET.get("q", "").strip()[:100]
    role = request.GET.get("role", "")
    status = request.GET.get("status", "")
    team = request.GET.get("team", "")
    if search:
        users = users.filter(Q(username__icontains=search) | Q(first_name__icontains=search)
                             | Q(last_name__icontains=search) | Q(email__icontains=search))
    if role in Role.values:
        users = users.filter(role=role)
    if status == "active":
        users = users.filter(is_active=True)
    elif status == "inactive":
        users = users.filter(is_active=False)
    if team == "none":
        users = users.filter(team__isnull=True)
    elif team.isdigit():
        users = users.filter(team_id=int(team))
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "accounts/admin/users.html", {
        "page": page, "search": search, "role": role, "status": status, "team": team,
        "roles": Role.choices, "teams": Team.objects.order_by("name"), "query": query.urlencode(),
        "tab": "users",
    })


def _send_reset(request, user) -> bool:
    try:
        administration.user_password_reset_send(
            actor=request.user, user=user, domain=request.get_host(), use_https=request.is_secure())
    except ValidationFailed as exc:
        for msgs in exc.errors.values():
            for message in msgs:
                messages.warning(request, message)
        return False
    messages.success(request, _("A link to set a password was sent to %(email)s.") % {"email": user.email})
    return True


@login_required
def user_create(request):
    _require_admin_page(request)
    form = UserForm(request.POST or None, initial=None if request.POST else {"role": Role.SALES_REP})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = administration.user_admin_create(
                    actor=request.user, data=form.to_service_data(), password=form.cleaned_data["password"])
            except (ValidationFailed, PermissionDenied) as exc:
                form.add_service_errors(exc)
                status = 403 if isinstance(exc, PermissionDenied) else 422
            else:
                messages.success(request, _("User “%(name)s” created.") % {"name": user.username})
                if not form.cleaned_data["password"]:
                    if user.email:
                        _send_reset(request, user)
                    else:
                        messages.warning(request, _("This user has no password and no e-mail address "
                                                    "yet: set a password below before they can sign in."))
                return redirect("admin-user-edit", pk=user.pk)
        else:
            status = 422
    return render(request, "accounts/admin/user_form.html", {"form": form, "subject": None, "tab": "users"},
                  status=status)


@login_required
def user_edit(request, pk: int):
    _require_admin_page(request)
    subject = get_object_or_404(User.objects.select_related("team"), pk=pk)
    form = UserForm(request.POST or None, instance=subject)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                administration.user_admin_update(actor=request.user, user=subject, data=form.to_service_data())
            except (ValidationFailed, PermissionDenied) as exc:
                form.add_service_errors(exc)
                status = 403 if isinstance(exc, PermissionDenied) else 422
            else:
                messages.success(request, _("Changes saved."))
                return redirect("admin-user-edit", pk=subject.pk)
        else:
            status = 422
    return _user_page(request, subject, form=form, status=status)


def _user_page(request, subject, *, form=None, password_form=None, status=200):
    return render(request, "accounts/admin/user_form.html", {
        "form": form or UserForm(instance=subject),
        "password_form": password_form or PasswordSetForm(),
        "subject": subject,
        "capabilities": sorted(str(c.label) for c in ROLE_CAPABILITIES.get(subject.role, ())),
        "tab": "users",
    }, status=status)


@login_required
@require_POST
def user_password_set(request, pk: int):
    _require_admin_page(request)
    subject = get_object_or_404(User, pk=pk)
    form = PasswordSetForm(request.POST)
    if form.is_valid():
        try:
            administration.user_password_set(actor=request.user, user=subject,
                                             password=form.cleaned_data["password"])
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("New password set for %(name)s.") % {"name": subject.username})
            return redirect("admin-user-edit", pk=subject.pk)
    return _user_page(request, subject, password_form=form, status=422)


@login_required
@require_POST
def user_reset_mail(request, pk: int):
    _require_admin_page(request)
    subject = get_object_or_404(User, pk=pk)
    _send_reset(request, subject)
    return redirect("admin-user-edit", pk=subject.pk)


@login_required
def team_list(request):
    _require_admin_page(request)
    form = TeamForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                team = administration.team_create(actor=request.user, name=form.cleaned_data["name"])
            except ValidationFailed as exc:
                form.add_service_errors(exc)
                status = 422
            else:
                messages.success(request, _("Team “%(name)s” created.") % {"name": team.name})
                return redirect("admin-team-edit", pk=team.pk)
        else:
            status = 422
    teams = Team.objects.annotate(
        n_members=Count("members", filter=Q(members__is_active=True), distinct=True),
        n_customers=Count("customers", distinct=True),
    ).order_by("name")
    return render(request, "accounts/admin/teams.html", {"teams": teams, "form": form, "tab": "teams"},
                  status=status)


@login_required
def team_edit(request, pk: int):
    _require_admin_page(request)
    team = get_object_or_404(Team, pk=pk)
    rename_form = TeamForm(initial={"name": team.name}, prefix="rename")
    members_form = TeamMembersForm(initial={"members": list(team.members.values_list("pk", flat=True))},
                                   prefix="members", team=team)
    status = 200
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "rename":
                rename_form = TeamForm(request.POST, prefix="rename")
                if rename_form.is_valid():
                    administration.team_rename(actor=request.user, team=team,
                                               name=rename_form.cleaned_data["name"])
                    messages.success(request, _("Team renamed."))
                    return redirect("admin-team-edit", pk=team.pk)
            elif which == "members":
                members_form = TeamMembersForm(request.POST, prefix="members", team=team)
                if members_form.is_valid():
                    administration.team_members_set(
                        actor=request.user, team=team,
                        user_ids=[u.pk for u in members_form.cleaned_data["members"]])
                    messages.success(request, _("Members saved."))
                    return redirect("admin-team-edit", pk=team.pk)
        except ValidationFailed as exc:
            (rename_form if which == "rename" else members_form).add_service_errors(exc)
        status = 422
    return render(request, "accounts/admin/team_form.html", {
        "team": team, "rename_form": rename_form, "members_form": members_form, "tab": "teams",
    }, status=status)


@login_required
@require_GET
def role_list(request):
    """What each role may do and see, read from the one capability table."""
    _require_admin_page(request)
    roles = list(Role)
    rows = [{"capability": cap, "label": cap.label,
             "granted": [cap in ROLE_CAPABILITIES.get(role, frozenset()) for role in roles]}
            for cap in Capability]
    scopes = [ROLE_SCOPE.get(role) for role in roles]
    counts = dict(User.objects.filter(is_active=True).values_list("role").annotate(n=Count("id")))
    return render(request, "accounts/admin/roles.html", {
        "roles": [{"value": r.value, "label": r.label, "scope": s, "users": counts.get(r.value, 0)}
                  for r, s in zip(roles, scopes, strict=True)],
        "rows": rows, "tab": "roles",
    })
