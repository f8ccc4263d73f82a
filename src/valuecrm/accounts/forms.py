"""Forms of the users & teams pages (administrators only). They parse input; the
services in accounts.administration decide what is valid."""

from django import forms
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import Role
from valuecrm.common.forms import ServiceErrorsMixin


class UserForm(ServiceErrorsMixin, forms.Form):
    error_key_to_field = {"team_id": "team"}

    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("Given name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Family name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False,
                                  empty_label=_("No team"))
    language = forms.ChoiceField(label=_("Language"), required=False)
    is_active = forms.BooleanField(label=_("Active (may sign in)"), required=False, initial=True)
    password = forms.CharField(
        label=_("Password"), required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to send the person a link to set their own password."),
    )

    def __init__(self, *args, instance: User | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "username": instance.username, "first_name": instance.first_name,
                "last_name": instance.last_name, "email": instance.email, "role": instance.role,
                "team": instance.team_id, "language": instance.language, "is_active": instance.is_active,
            }
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.order_by("name")
        self.fields["language"].choices = [("", _("Follow the browser"))] + [
            (code, name) for code, name in settings.LANGUAGES]
        if instance is None:
            del self.fields["is_active"]
        else:
            # Passwords of existing users change through their own form.
            del self.fields["password"]
        for field in self.fields.values():
            css = "form-check-input" if isinstance(field.widget, forms.CheckboxInput) else (
                "form-select" if isinstance(field.widget, forms.Select) else "form-control")
            field.widget.attrs.setdefault("class", css)

    def to_service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("password", None)
        team = data.pop("team")
        data["team_id"] = team.pk if team else None
        return data


class PasswordSetForm(ServiceErrorsMixin, forms.Form):
    password = forms.CharField(
        label=_("New password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "class": "form-control"}),
    )


class TeamForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100,
                           widget=forms.TextInput(attrs={"class": "form-control"}))


class TeamMembersForm(ServiceErrorsMixin, forms.Form):
    members = forms.ModelMultipleChoiceField(
        label=_("Members"), queryset=User.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        # Deactivated members stay listed, so saving the form does not drop them silently.
        self.fields["members"].queryset = User.objects.filter(
            models.Q(is_active=True) | models.Q(team=team)).order_by("username")
        self.fields["members"].label_from_instance = lambda u: (
            f"{u.display_name} ({u.username})" if u.display_name != u.username else u.username)
