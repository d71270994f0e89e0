"""A section of a run's option file parsed once: :func:`parse_once`, ``Section.from_dict`` for readers that read the
same section one after another.

Why it exists: a data set's section (and the ``realesrgan`` section) has several readers in one run: the run checks
at start-up (``options/runs.py``), the data probe (``data/preflight.py``), the model's batch degradation
(``data/batch_degradation.py``) and the data set's own ``__init__``. Each ``from_dict`` checks every key again (and a
nested ``degradation`` block), so each reader would parse it anew. The first parse (the run checks') is kept, and a
later reader of an unchanged section takes its settings. BasicSR's ``build_dataset`` deep-copies a data set's options
before the class sees them, so a section is recognised by the equality of its keys and values (a value's type
included: 1, 1.0 and true are not the same value here), not by the dict's identity; a changed section (a script or a
test that builds a data set from another dict) is parsed afresh. Only settings parsed without an error are kept, so a
mistake is reported by a parse of its own, with the reader's message.
"""
import collections
import copy
import dataclasses

from srddgan_arch.options.schema import REQUIRED

KEPT = 32  # the parses kept: a run's data sets and realesrgan with room to spare; the oldest goes first
# (section class, the frozen keys it parsed) -> a private copy of the settings
_PARSES = collections.OrderedDict()


def _frozen(value):
    """A hashable image of a YAML value that equals another's only for equal values of the same types; TypeError for
    a value that cannot be hashed (its section is then parsed each time)."""
    if isinstance(value, dict):
        return dict, frozenset((_frozen(key), _frozen(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value), tuple(_frozen(item) for item in value)
    hash(value)
    return type(value), value


def _parsed_values(section, options, inherited):
    """The keys a parse of ``options`` reads: theirs, and the inherited values of the keys the section declares
    ``inherit`` that they leave out (``from_dict`` fills them in); None when the parse raises on them (not a mapping,
    an inherited value that contradicts the section's)."""
    if not isinstance(options, (dict, type(None))):
        return None
    values = dict(options or {})
    for field in dataclasses.fields(section):
        outer = (inherited or {}).get(field.name) if field.metadata['inherit'] else None
        if outer is None:
            continue
        if field.name not in values and field.default is REQUIRED:
            return None  # missing: from_dict raises before filling it in
        if values.setdefault(field.name, outer) != outer:
            return None
    return values


def parse_once(section, options, section_name=None, inherited=None):
    """``section.from_dict(options, section_name, inherited)``, or the settings of an earlier parse of the same keys
    (see the module docstring): equal settings, a copy of their own (a reader that changes a dict of its settings, as
    BasicSR's data sets change ``io_backend``, changes no other reader's).

    Args:
        section (type): The section class, e.g. ``DegradedDatasetOptions``.
        options (dict | None): The section.
        section_name (str | None): Its name in messages. Default: None (``section_name``).
        inherited (dict | None): The values of the section around it. Default: None.

    Returns:
        Section: The settings.
    """
    values = _parsed_values(section, options, inherited)
    try:
        key = None if values is None else (section, _frozen(values))
    except TypeError:
        key = None
    if key is not None and key in _PARSES:
        _PARSES.move_to_end(key)
        return copy.deepcopy(_PARSES[key])
    settings = section.from_dict(options, section_name, inherited)
    if key is not None:
        _PARSES[key] = copy.deepcopy(settings)
        while len(_PARSES) > KEPT:
            _PARSES.popitem(last=False)
    return settings
