from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from escalation_project.metrics import metrics_view
from escalation_project.readiness import readyz
from escalation_project.views import favicon, healthz
from supervisors.views import home

admin.site.site_header = "Escalation Console"
admin.site.site_title = "Escalation Console admin"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("console/", include("supervisors.urls")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("escalations.api.urls")),
    path("api/v1/", include("agents.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script by URL: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Redoc fetched web fonts from Google at run time (blocked by the CSP, and no network is
    # assumed): one set of docs, Swagger UI's, whose every asset is ours. Old links still land.
    path("api/redoc/", RedirectView.as_view(pattern_name="api-docs", permanent=True), name="api-redoc"),
    path("favicon.ico", favicon, name="favicon"),
]

handler404 = "escalation_project.views.not_found"
handler500 = "escalation_project.views.server_error"
