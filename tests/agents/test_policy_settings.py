"""The policy judge's settings: a bad value stops start-up with a message naming it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from escalation_project.env import env_float
from tests.test_settings import check_with


def test_decimals_are_checked_for_form_and_range(monkeypatch):
    monkeypatch.setenv("BUDGET_X", "1.5")
    assert env_float("BUDGET_X", 3.0, minimum=0.1, maximum=60) == 1.5
    for raw, message in [
        ("fast", "BUDGET_X='fast' is not a number"),
        ("nan", "BUDGET_X='nan' is not a number"),
        ("0", "BUDGET_X=0.0 is below the minimum of 0.1"),
        ("61", "BUDGET_X=61.0 is above the maximum of 60"),
    ]:
        monkeypatch.setenv("BUDGET_X", raw)
        with pytest.raises(ImproperlyConfigured, match=message):
            env_float("BUDGET_X", 3.0, minimum=0.1, maximum=60)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"POLICY_JUDGE_BASE_URL": "http://127.0.0.1:11434/v1"}, "POLICY_JUDGE_MODEL must name the model"),
        (
            {"POLICY_JUDGE_BASE_URL": "127.0.0.1:11434/v1", "POLICY_JUDGE_MODEL": "llama3.1"},
            "must start with http:// or https://",
        ),
        ({"POLICY_JUDGE_TIMEOUT_SECONDS": "soon"}, "POLICY_JUDGE_TIMEOUT_SECONDS='soon' is not a number"),
        ({"POLICY_JUDGE_MAX_CONCURRENCY": "0"}, "POLICY_JUDGE_MAX_CONCURRENCY=0 is below the minimum of 1"),
    ],
)
def test_the_process_refuses_to_start_on_a_bad_judge_setting(tmp_path, env, message):
    result = check_with(VAR_DIR=str(tmp_path), **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_a_configured_judge_passes_the_system_checks(tmp_path):
    result = check_with(
        VAR_DIR=str(tmp_path),
        POLICY_JUDGE_BASE_URL="http://127.0.0.1:11434/v1",
        POLICY_JUDGE_MODEL="llama3.1:8b",
        POLICY_JUDGE_TIMEOUT_SECONDS="2.5",
    )
    assert result.returncode == 0, result.stderr
