"""The experiment file of the ASHA resume test: run by `archspace run` in a subprocess, then SIGKILLed."""

from __future__ import annotations

import os

from tests.schedule.curves import build

experiment = build(os.environ.get("ARCHSPACE_TEST_DIR", "runs/asha-killable"))
