from django.contrib import admin

from valuecrm.insights.models import (
    CustomerValue,
    LifecycleRules,
    PlaybookEntry,
    ScoreRun,
    StageChange,
    TierPolicy,
    ValueAlert,
    WarningPolicy,
)


class SingletonAdmin(admin.ModelAdmin):
    """One settings row: no adding a second one, no deleting the only one."""

    def has_add_permission(self, request):
        return not self.model.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(LifecycleRules, SingletonAdmin)
admin.site.register(TierPolicy, SingletonAdmin)
admin.site.register(WarningPolicy, SingletonAdmin)


@admin.register(PlaybookEntry)
class PlaybookEntryAdmin(admin.ModelAdmin):
    list_display = ("stage", "tier", "action_code", "text_en", "text_zh")
    list_filter = ("stage", "tier")
    list_editable = ("action_code", "text_en", "text_zh")


@admin.register(ScoreRun)
class ScoreRunAdmin(admin.ModelAdmin):
    list_display = ("id", "as_of", "status", "transaction_model", "n_customers", "n_alerts",
                    "customer_equity", "duration_seconds", "created_at")
    list_filter = ("status", "transaction_model")
    readonly_fields = [f.name for f in ScoreRun._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(CustomerValue)
class CustomerValueAdmin(admin.ModelAdmin):
    list_display = ("customer", "tier", "stage", "segment", "clv", "p_alive", "churn_risk", "as_of")
    list_filter = ("tier", "stage", "segment", "is_value_customer")
    raw_id_fields = ("customer", "run")
    list_select_related = ("customer",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ValueAlert)
class ValueAlertAdmin(admin.ModelAdmin):
    list_display = ("customer", "kind", "tier", "created_on", "resolved_at")
    list_filter = ("kind", "tier")
    raw_id_fields = ("customer", "run", "task")


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    list_display = ("customer", "from_stage", "to_stage", "changed_on")
    list_filter = ("to_stage",)
    raw_id_fields = ("customer", "run")
