"""Limits shared by the pipeline steps that take requests."""

from __future__ import annotations

MAX_ROWS = 200_000
PROFILE = {"branch": ("name", "type", "street"), "member": ("branch_id", "name")}
