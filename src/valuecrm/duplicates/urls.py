from django.urls import path

from valuecrm.duplicates import views

urlpatterns = [
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/scan/", views.duplicate_scan_view, name="duplicates-scan"),
    path("duplicates/<int:pk>/dismiss/", views.duplicate_dismiss_view, name="duplicate-dismiss"),
    path("duplicates/merge/", views.merge_review, name="merge-review"),
    path("merges/", views.merge_list, name="merges"),
    path("merges/<int:pk>/undo/", views.merge_undo_view, name="merge-undo"),
]
