"""Image files the tests send."""

from __future__ import annotations

from devstack.processes import REPO_ROOT

SELFIE = REPO_ROOT / "assets" / "sample-selfie.jpg"
# Stored sideways (an EXIF orientation) and carrying GPS tags: what sanitising must undo.
SELFIE_WITH_GPS = REPO_ROOT / "tests" / "fixtures" / "selfie-with-gps.jpg"
