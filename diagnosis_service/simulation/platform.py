"""The district's platform in the simulation: how its effect comes in over the months after the launch,
and the month-by-month random draws that keep the months before the launch as they would be without it.
``simulation.district`` applies it when ``SimulationSpec.platform_from`` is set.
"""

from __future__ import annotations

import numpy as np

from ..periods import parse_period

# The platform's effect (only with SimulationSpec.platform_from; None leaves every figure as it was).
# It comes in gradually, r(t) = clip((t - p0 + 1) / PLATFORM_RAMP, 0, 1) for month t and launch month p0:
# branches and members learn to use it over most of its first year. Calibrated on DEFAULT_SPEC (seed 0)
# to the seed story: over 2025 the share of branches with a red or yellow lamp falls by about 17%,
# that of members by about 20% (both relative), with 2024 flat.
PLATFORM_RAMP = 10
PLATFORM_HEALTH_GAIN = 0.3        # share of a branch's gap to full health (1 - h) closed at full effect
PLATFORM_ENGAGEMENT_GAIN = 0.05   # the same for a member's engagement (a slight rise)
PLATFORM_FORGET_CUT = 0.6         # share of forgotten dues that the platform's reminders prevent
PLATFORM_LAPSE_CUT = 0.5          # share of lapses (no org life for a while) it prevents once in full effect
# Drifting members with a platform. Before the launch a drifting member comes back only after a long
# spell (DRIFT_SPELL months, unnoticed until then), and new ones start at DRIFT_PER_MONTH of the members
# a month (the rate without a platform: 3% over 30 months), so the number drifting is steady and the year
# before the launch has no trend of its own (without a platform they never come back and pile up).
# The first months of any window still have fewer red lamps: a six-month run needs six months of data.
# From the launch, their red lamp reaches the secretary, who brings a share of them (PLATFORM_BRING_BACK)
# back FOLLOW_UP months after the launch or after they start drifting; the others stay away for their
# whole spell.
DRIFT_SPELL = (12, 24)
DRIFT_PER_MONTH = 0.001
PLATFORM_BRING_BACK = 0.2
FOLLOW_UP = (3, 12)


class Platform:
    """When the platform launches (p0, a month number of the window: negative before it, >= months after
    it) and how far its effect has come in each month of the window (ramp, 0 before p0, 1 at full effect)."""

    def __init__(self, p0: int, months: int):
        self.p0 = p0
        self.ramp = np.clip((np.arange(months) - p0 + 1) / PLATFORM_RAMP, 0, 1)

    def health(self, h: np.ndarray) -> np.ndarray:
        """Branches' health (branches x months): weak branches gain most, the platform showing them what
        they miss month after month."""
        return h + (1 - h) * PLATFORM_HEALTH_GAIN * self.ramp[None, :]

    def lapse_starts(self, start: np.ndarray) -> np.ndarray:
        """Lapse starts (branches x 1, -1 for none): one that would start once the platform is in use is
        caught in time, more so at full effect."""
        caught = spread(len(start), 0.6180339887498949)[:, None] < PLATFORM_LAPSE_CUT * self.ramp[np.maximum(start, 0)]
        return np.where((start >= 0) & caught, -1, start)

    def engagement(self, e: np.ndarray) -> np.ndarray:
        """Members' engagement (members x months): a slight rise."""
        return e + (1 - e) * PLATFORM_ENGAGEMENT_GAIN * self.ramp[None, :]

    def back(self, drift_from: np.ndarray) -> np.ndarray:
        """The month each drifting member comes back: after a spell of their own (DRIFT_SPELL) or, if they
        answer the secretary the platform alerts, a follow-up of their own (FOLLOW_UP) after the launch or
        after they start drifting, whichever is later."""
        n = len(drift_from)
        spell = DRIFT_SPELL[0] + (spread(n, 0.6180339887498949) * (DRIFT_SPELL[1] - DRIFT_SPELL[0] + 1)).astype(int)
        follow = FOLLOW_UP[0] + (spread(n, 0.4142135623730951) * (FOLLOW_UP[1] - FOLLOW_UP[0] + 1)).astype(int)
        answers = spread(n, 0.7320508075688772) < PLATFORM_BRING_BACK
        return np.where(answers, np.minimum(drift_from + spell, np.maximum(drift_from, self.p0) + follow),
                        drift_from + spell)

    def forgetting(self, p: float) -> np.ndarray:
        """The chance a forgetful member forgets the dues (1 x months): reminders before the due date."""
        return p * (1 - PLATFORM_FORGET_CUT * self.ramp[None, :])


def platform_for(platform_from: str | None, pidx: np.ndarray) -> Platform | None:
    """The platform of a window of months ``pidx`` (None without one)."""
    if platform_from is None:
        return None
    return Platform(parse_period(platform_from) - int(pidx[0]), len(pidx))


def spread(n: int, step: float) -> np.ndarray:
    """n fractions in [0, 1) spread evenly by an irrational step: a deterministic stand-in for one uniform
    draw per subject, so the platform's effect needs no random numbers of its own."""
    return (np.arange(n) * step) % 1.0


class MonthByMonth:
    """The drawing methods of a numpy Generator (rng.poisson(lam), rng.random(size=(n, m)), ...), each call
    from a fresh stream of its own, filling an (n subjects, m months) array month by month.

    Used with a platform: its effect raises the parameters of later months, and rates that change how many
    random numbers a draw uses (Poisson, binomial) would otherwise shift every figure drawn after them,
    earlier months included. This way a month's figures depend only on that month's parameters and the
    months before, so every month before the launch is identical to the same district with a later launch
    (or one after the window): the platform's effect can be read off against its counterfactual."""

    def __init__(self, seeds: np.random.SeedSequence):
        self._seeds = seeds

    def __getattr__(self, name: str):
        method = getattr(np.random.default_rng(self._seeds.spawn(1)[0]), name)

        def draw(*args, size=None, **kwargs):
            if name == "random" and args:
                (size,), args = args, ()
            lead, params = (args[:1], args[1:]) if name == "choice" else ((), args)
            shapes = [np.shape(p) for p in params] + ([] if size is None else [np.atleast_1d(size).tolist()])
            shape = np.broadcast_shapes(*[tuple(s) for s in shapes])
            if len(shape) != 2:
                return method(*args, size=size, **kwargs)
            flipped = [np.broadcast_to(p, shape).T if np.ndim(p) else p for p in params]
            return method(*lead, *flipped, size=shape[::-1], **kwargs).T

        return draw


__all__ = ["DRIFT_PER_MONTH", "DRIFT_SPELL", "FOLLOW_UP", "PLATFORM_BRING_BACK", "PLATFORM_ENGAGEMENT_GAIN",
           "PLATFORM_FORGET_CUT", "PLATFORM_HEALTH_GAIN", "PLATFORM_LAPSE_CUT", "PLATFORM_RAMP", "MonthByMonth",
           "Platform", "platform_for", "spread"]
