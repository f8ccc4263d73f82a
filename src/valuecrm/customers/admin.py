from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from valuecrm.customers.models import (
    Customer,
    CustomFieldDefinition,
    Interaction,
    SavedView,
    Tag,
    Task,
)


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kind", "email", "phone", "city", "owner", "team", "created_at"]
    list_filter = ["kind", "team", "acquisition_channel"]
    search_fields = ["name"]  # e-mail and phone are encrypted: no LIKE on them
    raw_id_fields = ["company", "owner", "created_by"]
    show_full_result_count = False  # no COUNT(*) over 100k rows on every page


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "label_zh", "field_type", "required", "position"]
    list_editable = ["position"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Interaction)
class InteractionAdmin(SimpleHistoryAdmin):
    list_display = ["customer", "kind", "direction", "occurred_at", "author"]
    list_filter = ["kind", "direction"]
    raw_id_fields = ["customer", "author"]
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "customer", "assignee", "due_at", "done"]
    list_filter = ["done"]
    raw_id_fields = ["customer", "assignee", "created_by"]
    show_full_result_count = False


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "shared"]
