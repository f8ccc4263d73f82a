from django.urls import path

from valuecrm.exports import views

# The paths are the ones the integrations app served (bookmarks and scripts use them).
urlpatterns = [
    path("customers/export.xlsx", views.customer_export_xlsx, name="customer-export-xlsx"),
    path("integrations/export/", views.account_export_view, name="account-export"),
]
