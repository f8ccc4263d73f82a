from django.urls import path

from valuecrm.automation import views

urlpatterns = [
    path("automation/", views.rule_list, name="automation-rules"),
    path("automation/rules/new", views.rule_edit, name="automation-rule-new"),
    path("automation/rules/<int:pk>/", views.rule_edit, name="automation-rule"),
    path("automation/rules/<int:pk>/toggle", views.rule_toggle, name="automation-rule-toggle"),
    path("automation/rules/<int:pk>/delete", views.rule_delete, name="automation-rule-delete"),
    path("automation/runs/", views.run_log, name="automation-runs"),
]
