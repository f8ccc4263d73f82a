from django.urls import path

from valuecrm.integrations import views

urlpatterns = [
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/scan/", views.duplicate_scan_view, name="duplicates-scan"),
    path("duplicates/<int:pk>/dismiss/", views.duplicate_dismiss_view, name="duplicate-dismiss"),
    path("duplicates/merge/", views.merge_review, name="merge-review"),
    path("merges/", views.merge_list, name="merges"),
    path("merges/<int:pk>/undo/", views.merge_undo_view, name="merge-undo"),
    path("customers/export.xlsx", views.customer_export_xlsx, name="customer-export-xlsx"),
    path("integrations/", views.integrations_home, name="integrations"),
    path("integrations/webhooks/", views.endpoint_create_view, name="webhook-create"),
    path("integrations/webhooks/<int:pk>/", views.endpoint_action_view, name="webhook-action"),
    path("integrations/deliveries/", views.delivery_list, name="webhook-deliveries"),
    path("integrations/deliveries/<int:pk>/resend/", views.delivery_resend_view, name="webhook-resend"),
    path("integrations/inbound/", views.inbound_source_create_view, name="inbound-source-create"),
    path("integrations/export/", views.account_export_view, name="account-export"),
]
