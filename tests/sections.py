"""Shared helpers of the section tests: a section's ``Params`` at a profile's preset, with overrides given straight
to ``Params`` (so its own checks, not the command line's, judge them), and a section's headline numbers read from
its metrics as a record file holds them."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from marginlib.book import params
from marginlib.book.results import jsonable


def preset_params(section: ModuleType, profile: str = "smoke", **overrides: Any) -> Any:
    return section.Params(**{**params.as_fields(params.resolve(section.NOTEBOOK, profile)), **overrides})


def as_stored(metrics: Mapping[str, Any]) -> Any:
    """``metrics`` as a record file holds them (through JSON: tuples become lists, tensors numbers)."""
    return json.loads(json.dumps(jsonable(metrics)))


def checked_headline(section: ModuleType, metrics: Mapping[str, Any]) -> dict[str, float]:
    """``section.headline`` of the stored ``metrics``, checked against what the seeds runner needs of it: 4 to 12
    finite floats."""
    numbers = section.headline(as_stored(metrics))
    assert 4 <= len(numbers) <= 12, numbers
    assert all(isinstance(v, float) and math.isfinite(v) for v in numbers.values()), numbers
    return numbers
