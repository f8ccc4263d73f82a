from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from valuecrm.orders.models import Order, OrderLine, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "unit_cost", "active"]
    list_filter = ["category", "active"]
    search_fields = ["sku", "name"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    raw_id_fields = ["product"]
    extra = 0


@admin.register(Order)
class OrderAdmin(SimpleHistoryAdmin):
    list_display = ["external_id", "source", "customer", "status", "total_amount", "placed_at"]
    list_filter = ["status", "channel", "source"]
    search_fields = ["external_id"]
    raw_id_fields = ["customer", "created_by"]
    inlines = [OrderLineInline]
    show_full_result_count = False
