"""Checks shared by the sections of random degradations (``validate``): value ranges and the weights of random
choices, each named in its message as the option file names it."""
from numbers import Real

from srddgan_arch.options.schema import OptionError, Rule

# bounds of a probability (``option(..., **PROBABILITY)``)
POSITIVE_INT = Rule(int, gt=0)
PROBABILITY = dict(ge=0, le=1)


def check_ranges(key, settings, names):
    """Ranges ``[low, high]`` with ``0 <= low <= high``; a ``jpeg_range*`` is a JPEG quality, within [0, 100].

    Args:
        key (callable): ``key('x')`` is key x's name in messages.
        settings (Section): The settings holding the ranges.
        names (tuple[str]): The keys of the ranges.
    """
    for name in names:
        low_high = getattr(settings, name)
        if len(low_high) != 2 or not all(isinstance(v, Real) and not isinstance(v, bool) for v in low_high):
            raise OptionError(f'{key(name)} must be [low, high], two numbers, got {list(low_high)}.')
        if not 0 <= low_high[0] <= low_high[1]:
            raise OptionError(f'{key(name)} must be [low, high] with 0 <= low <= high, got {list(low_high)}.')
        if name.startswith('jpeg_range') and low_high[1] > 100:
            raise OptionError(f'{key(name)} is a JPEG quality within [0, 100], got {list(low_high)}.')


def check_choices(key, name, choices, prob_name, probs, allowed):
    """Choices must be known, non-empty and have one non-negative probability each."""
    if not choices or any(c not in allowed for c in choices):
        raise OptionError(f'{key(name)} must be a non-empty list from {list(allowed)}, got {list(choices)}.')
    check_probabilities(key, prob_name, probs, len(choices), f'per {name} entry')


def check_probabilities(key, name, probs, count, per):
    """``count`` non-negative numbers, not all 0: the weights of a random choice among ``count`` (``per``, e.g.
    'per kernel_list entry', says of what in messages)."""
    numbers = all(isinstance(p, Real) and not isinstance(p, bool) for p in probs)
    if len(probs) != count or not numbers or any(p < 0 for p in probs) or sum(probs) <= 0:
        raise OptionError(f'{key(name)} needs one non-negative probability {per} ({count}), not all 0, got '
                          f'{list(probs)}.')
