"""Width schedules (W&D): how many tool calls an agent may issue on each turn.

``descending`` (the default) is wide early to explore and narrow later to exploit;
``ascending`` is the reverse; ``constant`` keeps one width; a mapping gives widths per
1-based turn range, e.g. ``{"1-2": 8, "3-4": 4, "5+": 1}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentloom.errors import ConfigError

__all__ = ["WidthSchedule", "parse_width", "SCHEDULE_NAMES"]

SCHEDULE_NAMES = ("constant", "descending", "ascending")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)?|(\+))?\s*$")


@dataclass(frozen=True)
class WidthSchedule:
    """A width per turn. ``peak`` is the widest turn of named schedules."""

    kind: str
    peak: int = 8
    ranges: tuple[tuple[int, int | None, int], ...] = field(default=())

    def width(self, turn: int) -> int:
        """The width for ``turn`` (0-based)."""
        if self.kind == "constant":
            return self.peak
        if self.kind == "descending":
            return max(1, self.peak >> turn)
        if self.kind == "ascending":
            return min(self.peak, 1 << min(turn, 30))
        one_based = turn + 1
        chosen = self.ranges[-1][2]
        for lo, hi, w in self.ranges:
            if one_based >= lo and (hi is None or one_based <= hi):
                return w
        for lo, _hi, w in self.ranges:
            if lo <= one_based:
                chosen = w
        return chosen

    def describe(self) -> str:
        if self.kind == "mapping":
            return "per-turn " + ", ".join(f"{lo}{'+' if hi is None else ('' if hi == lo else f'-{hi}')}:{w}" for lo, hi, w in self.ranges)
        return f"{self.kind}({self.peak})"


def _positive(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"width {where}={value!r} must be a whole number of at least 1")
    if value < 1:
        raise ConfigError(f"width {where}={value} must be at least 1")
    return value


def parse_width(spec: int | str | Mapping[object, int] | WidthSchedule | None, *, peak: int = 8) -> WidthSchedule:
    """A schedule from an int, a schedule name, or a mapping of 1-based turn ranges to widths."""
    if spec is None:
        spec = "descending"
    if isinstance(spec, WidthSchedule):
        return spec
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name.isdigit():
            return WidthSchedule("constant", _positive(int(name), "width"))
        if name not in SCHEDULE_NAMES:
            raise ConfigError(f"unknown width schedule '{spec}'; use a number or one of {', '.join(SCHEDULE_NAMES)}")
        return WidthSchedule(name, _positive(peak, "peak"))
    if isinstance(spec, Mapping):
        ranges: list[tuple[int, int | None, int]] = []
        for key, width in spec.items():
            match = _RANGE.match(str(key))
            if not match:
                raise ConfigError(f"width schedule key '{key}' must be a turn like 3, a range like 1-2, or 5+")
            lo = int(match.group(1))
            if lo < 1:
                raise ConfigError(f"width schedule turn '{key}' must start at 1 or later")
            hi: int | None
            if match.group(4) or (match.group(2) and not match.group(3)):
                hi = None
            elif match.group(3):
                hi = int(match.group(3))
                if hi < lo:
                    raise ConfigError(f"width schedule range '{key}' ends before it starts")
            else:
                hi = lo
            ranges.append((lo, hi, _positive(width, f"for turns {key}")))
        if not ranges:
            raise ConfigError("width schedule mapping is empty")
        ranges.sort()
        return WidthSchedule("mapping", max(w for _, _, w in ranges), tuple(ranges))
    return WidthSchedule("constant", _positive(spec, "width"))
