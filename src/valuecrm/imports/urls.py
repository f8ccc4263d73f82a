from django.urls import path

from valuecrm.imports import views

urlpatterns = [
    path("imports/", views.import_history, name="import-history"),
    path("imports/new/", views.import_wizard, name="import-wizard"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/map/", views.import_map, name="import-map"),
    path("imports/<int:pk>/preset/", views.import_preset_apply, name="import-preset-apply"),
    path("imports/<int:pk>/preview/", views.import_preview, name="import-preview"),
    path("imports/<int:pk>/review/", views.import_review, name="import-review"),
    path("imports/<int:pk>/analysis/", views.import_analysis, name="import-analysis"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:pk>/errors.csv", views.import_errors_csv, name="import-errors"),
    path("imports/<int:pk>/undo/", views.import_undo, name="import-undo"),
    path("imports/<int:pk>/valid-rows/", views.import_retry, name="import-retry"),
]
