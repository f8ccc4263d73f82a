from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "valuecrm.accounts"
    label = "accounts"

    def ready(self):
        from django.contrib.auth import user_logged_in
        from django.contrib.auth.models import update_last_login

        from valuecrm.accounts.bookkeeping import user_last_login_touch

        # Django's receiver writes last_login on every sign-in and waits for the write
        # lock; ours skips the write while the database is busy (see bookkeeping.py).
        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(user_last_login_touch, dispatch_uid="valuecrm_last_login")

        from valuecrm.accounts.middleware import mfa_state_at_login

        user_logged_in.connect(mfa_state_at_login, dispatch_uid="valuecrm_mfa_state")

        # Django admin is a superuser's tool for repairs; daily work (orders, products,
        # users and teams) has its own pages, so staff flags alone no longer open it.
        from django.contrib import admin

        admin.site.has_permission = _superuser_only


def _superuser_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser
