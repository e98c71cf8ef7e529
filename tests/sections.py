"""Shared helper of the section tests: a section's ``Params`` at a profile's preset, with overrides given straight
to ``Params`` (so its own checks, not the command line's, judge them)."""
from __future__ import annotations

from types import ModuleType
from typing import Any

from marginlib.book import params


def preset_params(section: ModuleType, profile: str = "smoke", **overrides: Any) -> Any:
    return section.Params(**{**params.as_fields(params.resolve(section.NOTEBOOK, profile)), **overrides})
