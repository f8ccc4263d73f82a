from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from valuecrm.accounts import admin_pages, views

_reset = {
    "email_template_name": "accounts/email/password_reset.txt",
    "subject_template_name": "accounts/email/password_reset_subject.txt",
}

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("login/code/", views.mfa_verify, name="mfa-verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/", views.preferences_update, name="preferences"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("security/", views.security, name="security"),
    path("security/mfa/", views.mfa_enrol, name="mfa-enrol"),
    path("security/mfa/recovery-codes/", views.recovery_codes_regenerate, name="mfa-recovery-codes"),
    path("security/mfa/off/", views.mfa_disable, name="mfa-disable"),
    path("security/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        template_name="accounts/password_reset.html", success_url=reverse_lazy("password_reset_done"),
        **_reset), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="accounts/password_reset_confirm.html",
        success_url=reverse_lazy("password_reset_complete")), name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password_reset_complete"),
]

# Users, teams and roles (administrators only).
urlpatterns += [
    path("settings/users/", admin_pages.user_list, name="admin-users"),
    path("settings/users/new/", admin_pages.user_create, name="admin-user-create"),
    path("settings/users/<int:pk>/", admin_pages.user_edit, name="admin-user-edit"),
    path("settings/users/<int:pk>/password/", admin_pages.user_password_set, name="admin-user-password"),
    path("settings/users/<int:pk>/reset-mail/", admin_pages.user_reset_mail, name="admin-user-reset-mail"),
    path("settings/teams/", admin_pages.team_list, name="admin-teams"),
    path("settings/teams/<int:pk>/", admin_pages.team_edit, name="admin-team-edit"),
    path("settings/roles/", admin_pages.role_list, name="admin-roles"),
]
