"""The sections of a run's option file parsed once: :func:`parse_once`, ``Section.from_dict`` for readers that read the
same section one after another, and :func:`parsed`, the same for any parse (the model's sections).

Why it exists: a data set's section (and the ``realesrgan`` section) has several readers in one run: the run checks
at start-up (``options/runs.py``), the data probe (``data/preflight.py``), the model's batch degradation
(``data/batch_degradation.py``) and the data set's own ``__init__``; the model's sections are read by the run checks
and by the model when BasicSR builds it (``models/srddgan_options.py``). Each parse checks every key again (and a
nested ``degradation`` block, the metrics' signatures), so each reader would parse them anew. The first parse (the run
checks') is kept, and a later reader of unchanged sections takes its settings. BasicSR's ``build_dataset`` and
``build_model`` deep-copy the options before the class sees them, so sections are recognised by the equality of their
keys and values (a value's type included: 1, 1.0 and true are not the same value here), not by the dicts' identity; a
changed section (a resume's ``path``, a script or a test that builds a data set from another dict) is parsed afresh.
Only settings parsed without an error are kept, so a mistake is reported by a parse of its own, with the reader's
message; a run's start forgets the parses of the runs before it (:func:`forget_parses`).
"""
import collections
import copy
import dataclasses
import functools

from srddgan_arch.options.schema import REQUIRED

KEPT = 32  # the parses kept: a run's data sets, realesrgan and model with room to spare; the oldest goes first
# (kind, the frozen values it parsed) -> a private copy of the settings
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
    (see the module docstring and :func:`parsed`).

    Args:
        section (type): The section class, e.g. ``DegradedDatasetOptions``.
        options (dict | None): The section.
        section_name (str | None): Its name in messages. Default: None (``section_name``).
        inherited (dict | None): The values of the section around it. Default: None.

    Returns:
        Section: The settings.
    """
    values = _parsed_values(section, options, inherited)
    parse = functools.partial(section.from_dict, options, section_name, inherited)
    return parse() if values is None else parsed(section, values, parse)


def parsed(kind, values, parse):
    """``parse()``, or the result of an earlier ``parse`` of equal ``values`` of the same ``kind``: equal settings, a
    copy of their own (a reader that changes a dict of its settings, as BasicSR's data sets change ``io_backend``,
    changes no other reader's).

    Args:
        kind: What is parsed, e.g. a section class.
        values (dict): All that the parse reads.
        parse (callable): The parse, without arguments.

    Returns:
        The settings.
    """
    try:
        key = kind, _frozen(values)
    except TypeError:
        return parse()
    if key in _PARSES:
        _PARSES.move_to_end(key)
        return copy.deepcopy(_PARSES[key])
    settings = parse()
    _PARSES[key] = copy.deepcopy(settings)
    while len(_PARSES) > KEPT:
        _PARSES.popitem(last=False)
    return settings


def forget_parses():
    """Forget every parse: a run's start parses its sections afresh (also a second run in the same process)."""
    _PARSES.clear()
