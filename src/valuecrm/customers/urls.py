from django.urls import path

from valuecrm.customers.views import inbox, record

urlpatterns = [
    # customer record (360 page, forms, quick actions) and follow-ups
    path("customers/new/", record.customer_create, name="customer-create"),
    path("customers/<int:pk>/", record.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/edit/", record.customer_edit, name="customer-edit"),
    path("customers/<int:pk>/timeline/", record.customer_timeline_partial, name="customer-timeline"),
    path("customers/<int:pk>/notes/", record.customer_note_add, name="customer-note-add"),
    path("customers/<int:pk>/interactions/", record.customer_interaction_add, name="customer-interaction-add"),
    path("customers/<int:pk>/tasks/", record.customer_task_add, name="customer-task-add"),
    path("tasks/<int:pk>/done/", record.task_done, name="task-done"),
    path("inbox/", inbox.inbox, name="inbox"),
]
