"""collectstatic for `manage.py runstack`, skipped when no static file changed since the last one.

With the compressing manifest storage every collectstatic hashes and gzips all ~700
files again (the API docs' assets are most of the 33 MB), which was most of a warm
start's time (bench/first_run.py). The sources' paths, sizes and modification times
are fingerprinted and kept next to the collected files; a start whose fingerprint
matches, with the manifest still there, collects nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command

FINGERPRINT_NAME = ".sources-fingerprint"
# The manifest ManifestStaticFilesStorage writes: without it no page can name a static file.
MANIFEST_NAME = "staticfiles.json"


def sources_fingerprint() -> str:
    """A hash of every file collectstatic would copy (where from, size, mtime) and the storage."""
    digest = hashlib.sha256(repr(settings.STORAGES["staticfiles"]).encode())
    seen: set[str] = set()
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):  # collectstatic's default ignores
            prefix = getattr(storage, "prefix", None)
            prefixed = f"{prefix}/{path}" if prefix else path
            if prefixed in seen:
                continue  # collectstatic too copies only the first of two files with one path
            seen.add(prefixed)
            stat = Path(storage.path(path)).stat()
            digest.update(f"{prefixed}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def collect_if_changed() -> bool:
    """Run collectstatic unless the sources are unchanged since the last run; True if it ran."""
    root = Path(settings.STATIC_ROOT)
    fingerprint_file = root / FINGERPRINT_NAME
    fingerprint = sources_fingerprint()
    if (root / MANIFEST_NAME).exists() and _read(fingerprint_file) == fingerprint:
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    # Written after a collectstatic that finished: one cut short is redone next time.
    fingerprint_file.write_text(fingerprint)
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None
