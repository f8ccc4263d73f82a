from django.urls import path

from valuecrm.insights import views

urlpatterns = [
    path("value/", views.value_dashboard, name="value-dashboard"),
    path("value/export/<slug:chart>.csv", views.value_export, name="value-export"),
    path("value/score/", views.value_run_scoring, name="value-run-scoring"),
    path("value/status/", views.value_run_status, name="value-run-status"),
    path("value/model/", views.model_report, name="model-report"),
    path("value/settings/", views.value_settings, name="value-settings"),
    path("value/settings/playbook/<slug:stage>/<slug:tier>/", views.value_playbook_cell, name="value-playbook-cell"),
    path("value/settings/<slug:section>/", views.value_settings_save, name="value-settings-save"),
]
