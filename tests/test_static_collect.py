"""runstack collects static files only when one changed since the last collection."""

from __future__ import annotations

import json
import os

import pytest

from escalation_project import static_collect


@pytest.fixture
def static_files(settings, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "console.css").write_text("body { color: black; }")
    (sources / "console.js").write_text("console.log('hi');")
    settings.STATICFILES_DIRS = [sources]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    return sources


def test_it_collects_once_then_not_again_until_a_file_changes(static_files, settings):
    collected = settings.STATIC_ROOT

    assert static_collect.collect_if_changed() is True
    assert (collected / "staticfiles.json").exists()
    assert static_collect.collect_if_changed() is False

    (static_files / "console.css").write_text("body { color: navy; }")
    assert static_collect.collect_if_changed() is True
    hashed = json.loads((collected / "staticfiles.json").read_text())["paths"]["console.css"]
    assert "navy" in (collected / hashed).read_text()
    assert static_collect.collect_if_changed() is False


def test_a_new_file_or_a_lost_manifest_collects_again(static_files, settings):
    static_collect.collect_if_changed()

    (static_files / "favicon.svg").write_text("<svg/>")
    assert static_collect.collect_if_changed() is True

    os.remove(settings.STATIC_ROOT / "staticfiles.json")
    assert static_collect.collect_if_changed() is True
    assert (settings.STATIC_ROOT / "staticfiles.json").exists()
