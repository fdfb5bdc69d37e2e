"""Worlds the effectiveness model was not built for: variants of the closed loop's hidden truth.

The project's own world (``project``) and the model were written together: the model's features are
that world's truth. Real districts differ in ways an independent simulation showed (the effectiveness
issue); each variant adds one of them, ``all`` adds them together:

- ``silent``: 40% of the secretaries never answer; their branches adopt as often as any, but their
  lists are logged without feedback ("ignored");
- ``fading``: a remedy's effect fades (the full effect the first month, half the second, a quarter the
  third), and the same resource adopted again in a branch within six months does 30% of its effect;
- ``street``: on-site resources (bases, lecturers on site) work from 0.3 to 1.7 times as well
  depending on the street;
- ``kindtype``: effects by kind and branch type from a table unlike the prior's (0.1 to 1.9 times), and
  resource quality varying widely within a kind and topic.

Only the simulation reads a world; ``learning`` never sees which one it is in.
"""

from __future__ import annotations

from dataclasses import dataclass

WORLDS = ("project", "silent", "fading", "street", "kindtype", "all")


@dataclass(frozen=True)
class World:
    name: str = "project"
    silent_share: float = 0.0  # of the branches whose secretaries never answer
    fade: tuple[float, ...] = (1.0, 1.0, 1.0)  # effect in each month of the outcome horizon
    repeat_months: int = 0  # a resource adopted again within this many months ...
    repeat_factor: float = 1.0  # ... does this share of its effect
    street_spread: float = 0.0  # on-site effect x uniform(1 - spread, 1 + spread) per street
    kind_type_range: tuple[float, float] = (0.5, 1.5)  # effect x uniform(range) per kind and branch type
    quality_spread: float = 0.0  # effect x lognormal(0, spread) per resource


def world(name: str) -> World:
    """The named world; ValueError naming the known ones."""
    silent = {"silent_share": 0.4}
    fading = {"fade": (1.0, 0.5, 0.25), "repeat_months": 6, "repeat_factor": 0.3}
    street = {"street_spread": 0.7}
    kindtype = {"kind_type_range": (0.1, 1.9), "quality_spread": 0.6}
    parts = {"project": {}, "silent": silent, "fading": fading, "street": street, "kindtype": kindtype,
             "all": {**silent, **fading, **street, **kindtype}}
    if name not in parts:
        raise ValueError(f"unknown world {name!r}: one of {', '.join(WORLDS)}")
    return World(name, **parts[name])


__all__ = ["WORLDS", "World", "world"]
