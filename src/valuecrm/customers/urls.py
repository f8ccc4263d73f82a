from django.urls import path
from django.views.generic import RedirectView

from valuecrm.customers.views import archive, inbox, listing, palette, record

urlpatterns = [
    # the customer list (home for now), its export, columns, saved views, bulk actions, palette
    path("", RedirectView.as_view(pattern_name="customer-list"), name="home"),
    path("customers/", listing.customer_list_view, name="customer-list"),
    path("customers/export.csv", listing.customer_export, name="customer-export"),
    path("customers/columns/", listing.customer_columns_update, name="customer-columns"),
    path("customers/views/", listing.saved_view_create_view, name="customer-view-create"),
    path("customers/views/<int:pk>/delete/", listing.saved_view_delete_view, name="customer-view-delete"),
    path("customers/bulk/", listing.customer_bulk_action, name="customer-bulk"),
    path("palette/", palette.palette, name="palette"),
    # customer record (360 page, forms, quick actions) and follow-ups
    path("customers/new/", record.customer_create, name="customer-create"),
    path("customers/<int:pk>/", record.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/edit/", record.customer_edit, name="customer-edit"),
    path("customers/<int:pk>/timeline/", record.customer_timeline_partial, name="customer-timeline"),
    path("customers/<int:pk>/notes/", record.customer_note_add, name="customer-note-add"),
    path("customers/<int:pk>/interactions/", record.customer_interaction_add, name="customer-interaction-add"),
    path("customers/<int:pk>/tasks/", record.customer_task_add, name="customer-task-add"),
    path("tasks/<int:pk>/done/", record.task_done, name="task-done"),
    # archive / unarchive / delete (managers; delete asks for confirmation first)
    path("customers/<int:pk>/archive/", archive.customer_archive, name="customer-archive"),
    path("customers/<int:pk>/unarchive/", archive.customer_unarchive, name="customer-unarchive"),
    path("customers/<int:pk>/delete/", archive.customer_delete, name="customer-delete"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/seen/", inbox.inbox_assignments_seen, name="inbox-assignments-seen"),
]
