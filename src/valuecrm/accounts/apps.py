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
