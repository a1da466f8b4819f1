from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Escalation Console"
admin.site.site_title = "Escalation Console admin"
admin.site.index_title = "Configuration"

from escalation_project.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
