from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from escalation_project.views import healthz

admin.site.site_header = "Escalation Console"
admin.site.site_title = "Escalation Console admin"
admin.site.index_title = "Configuration"

urlpatterns = [
    # Until the console lands, the admin is the front door.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
