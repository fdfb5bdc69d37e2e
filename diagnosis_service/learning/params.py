"""The effectiveness model's parameters given as text (``model train --param NAME=VALUE``), checked against
the estimator's own: a candidate fitted with other parameters is a new recipe, which ``model promote``
judges against the model in service like any challenger."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import InputError, Problem
from .estimator import EffectivenessModel

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
# What each number may be: (least, most, whether the least itself is allowed).
RANGES: dict[str, tuple[float, float, bool]] = {
    "prior_strength": (0.0, math.inf, False),  # an estimate's spread is divided by sqrt(its evidence + this)
    "adoption_strength": (0.0, math.inf, True),
    "ridge_alpha": (0.0, math.inf, False),
    "blend": (0.0, 1.0, True),
    "log_ridge_alpha": (0.0, math.inf, False),
}
CHOICES = {"log_ridge_alpha": {"cv": "cv", "none": None}}  # words a parameter takes besides numbers


def defaults() -> dict[str, object]:
    """The estimator's parameters and their defaults, by name."""
    return EffectivenessModel().get_params()


def describe(name: str, default: object) -> str:
    """What ``name`` takes, for help and errors."""
    words = "/".join(CHOICES.get(name, {}))
    if isinstance(default, bool):
        return "true or false"
    low, high, closed = RANGES[name]
    number = f"a number {'≥' if closed else '>'} {low:g}" + (f" and ≤ {high:g}" if math.isfinite(high) else "")
    return f"{words} or {number}" if words else number


def parse_params(texts: Sequence[str], option: str = "--param") -> dict[str, object]:
    """``NAME=VALUE`` texts as EffectivenessModel parameters, typed as their defaults are; InputError naming
    every text that is not one (an unknown name, a value out of range, a name given twice), with what
    would be valid."""
    known = defaults()
    out: dict[str, object] = {}
    problems = []
    for text in texts:
        name, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not name:
            problems.append(Problem(f"{text!r} is not NAME=VALUE", column=option,
                                    suggestion=f"e.g. {option} weakness_flags=true or {option} ridge_alpha=2"))
            continue
        if name not in known:
            problems.append(Problem(f"unknown model parameter {name!r}", column=option,
                                    suggestion=f"one of: {', '.join(sorted(known))}"))
            continue
        if name in out:
            problems.append(Problem(f"model parameter {name!r} given twice", column=option,
                                    suggestion="give each parameter once"))
            continue
        parsed = _value(name, value, known[name], option)
        if isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            out[name] = parsed
    if problems:
        raise InputError(problems)
    return out


def _value(name: str, value: str, default: object, option: str) -> object:
    bad = Problem(f"model parameter {name}={value!r} is not valid", column=option,
                  suggestion=f"{name} takes {describe(name, default)}; its default is {_shown(default)}")
    word = value.lower()
    if isinstance(default, bool):
        return True if word in TRUE else False if word in FALSE else bad
    if word in CHOICES.get(name, {}):
        return CHOICES[name][word]
    try:
        number = float(value)
    except ValueError:
        return bad
    return number if _in_range(name, number) else bad


def _in_range(name: str, number: float) -> bool:
    low, high, closed = RANGES[name]
    return math.isfinite(number) and low <= number <= high and (number != low or closed)


def invalid(params: Mapping[str, object]) -> list[str]:
    """The parameters a model file holds that this version would not fit with, each as ``name=value: what it
    takes`` (none for a good file): a file edited by hand must not rank with a blend of 7."""
    known = defaults()
    out = []
    for name, value in sorted(params.items()):
        default = known.get(name, ...)
        if default is ...:
            out.append(f"{name}: a parameter this version does not know")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                out.append(f"{name}={value!r}: {describe(name, default)}")
        elif name in RANGES and value not in CHOICES.get(name, {}).values():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not _in_range(name, value):
                out.append(f"{name}={value!r}: {describe(name, default)}")
    return out


def _shown(value: object) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def changed(params: Mapping[str, object]) -> dict[str, object]:
    """Of a model's parameters, those that differ from the defaults (what a new recipe changed)."""
    known = defaults()
    return {k: v for k, v in sorted(params.items()) if k not in known or known[k] != v}


def shown(params: Mapping[str, object]) -> str:
    """``name=value`` of each parameter, as ``--param`` takes them."""
    return ", ".join(f"{k}={_shown(v)}" for k, v in sorted(params.items()))


# Parameters added later, with the value that makes the model the one fitted before them (to the bit): a
# card without them was made so (noise_weights came in on by default: a card from before is refitted off).
AS_BEFORE = {"weakness_flags": False, "noise_weights": False}


def recipe_model(params: Mapping[str, object] | None, from_card: bool = True) -> EffectivenessModel:
    """An unfitted model with a card's parameters (none: the defaults; a parameter added since the card
    was written: ``AS_BEFORE``'s value), or with ``from_card`` False a person's (``model train --param``:
    the others the defaults); ValueError naming a parameter this version does not know (a card from
    another version)."""
    known = defaults()
    unknown = sorted(set(params or {}) - set(known))
    if unknown:
        raise ValueError(f"parameters this version does not know: {', '.join(unknown)}")
    return EffectivenessModel(**({**AS_BEFORE, **params} if params is not None and from_card else dict(params or {})))


__all__ = ["AS_BEFORE", "changed", "defaults", "describe", "invalid", "parse_params", "recipe_model", "shown"]
