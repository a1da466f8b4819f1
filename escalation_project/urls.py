from django.contrib import admin
from django.urls import path

from escalation_project.views import healthz, home

admin.site.site_header = "Escalation Console"
admin.site.site_title = "Escalation Console admin"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
