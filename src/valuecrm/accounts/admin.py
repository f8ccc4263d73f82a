from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from valuecrm.accounts.models import ApiToken, Team, User


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "team", "is_active", "last_login"]
    list_filter = ["role", "team", "is_active"]
    fieldsets = BaseUserAdmin.fieldsets + (
        ("ValueCRM", {"fields": ("role", "team", "language", "theme")}),
    )
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        ("ValueCRM", {"fields": ("role", "team")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Tokens are created by their users (profile page / CLI); admins can only see and revoke.
    list_display = ["user", "name", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["user", "name", "digest", "hint", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False
