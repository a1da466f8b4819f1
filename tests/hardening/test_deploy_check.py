"""`manage.py check --deploy` is clean with production settings, and the CSP header is sent."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# What docs/operations/deployment.md and compose.yaml set (the secrets made up here).
PRODUCTION_ENV = {
    "SECRET_KEY": "x7Qm2-this-is-a-long-random-production-key-4kP9zR1wN8vB3yT6uE0sL5hJ",
    "HTTPS": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "ALLOWED_HOSTS": "console.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DEBUG"}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "escalation_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_without_a_warning_in_production():
    result = deploy_check(PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_when_https_is_not_declared():
    # The same check against the embedded defaults: proves the one above can fail.
    result = deploy_check({k: v for k, v in PRODUCTION_ENV.items() if k != "HTTPS"})

    assert result.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in result.stderr + result.stdout


def test_pages_carry_a_csp_without_inline_scripts(client, db):
    response = client.get("/console/login/")

    policy = dict(
        directive.strip().split(" ", 1) for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
