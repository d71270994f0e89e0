"""The machinery of typed option sections: a key's type, default, bounds and meaning, written once, checked once.

A section is a frozen dataclass whose fields are the YAML keys (e.g. ``RunOptions``); ``option()`` declares one key.
``from_dict`` checks a YAML mapping against it and returns the settings with the defaults filled in. A field whose
type is itself a section is a nested section (a data set's ``degradation``); a key declared with ``inherit=True``
takes the value of the section around it (``from_dict``'s ``inherited``) and must agree with it. Rules between keys
are a section's ``validate``. Settings made directly (``DegradationOptions(jpeg_prob=0.5)``) are checked too.
"""
import contextvars
import dataclasses
import difflib
import functools
import reprlib
import types
from numbers import Real
from typing import Any, ClassVar

REQUIRED = dataclasses.MISSING
# type of a field -> what a value of it is called in messages
_TYPE_WORDS = {bool: 'true or false', int: 'an int', float: 'a number', str: 'a string', dict: 'a mapping',
               list: 'a list', tuple: 'a list'}
_NOUNS = {int: 'int', float: 'number'}
# set while from_dict builds a section: it checks the values itself, naming them as the caller does
_checked_by_from_dict = contextvars.ContextVar('checked_by_from_dict', default=False)
# section name -> the first class declared for it (a subclass that extends it, a data set's, does not replace it):
# the sections sit with the classes that read them, and the run checks look them up here
SECTIONS = {}


class OptionError(ValueError):
    """An option is unknown, misspelt, of the wrong type or inconsistent with another one."""


_SHORT = reprlib.Repr()  # (Python 3.12 takes these as arguments)
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 3, 6, 6, 6, 6
_SHORT.maxstring = _SHORT.maxother = 80
SHOWN_LENGTH = 100


def shown(value):
    """``repr(value)`` shortened for a message (nested or long values elided with ..., at most ``SHOWN_LENGTH``
    characters): an option error stays one short line whatever the value, also one that YAML aliases make huge."""
    text = _SHORT.repr(value)
    return text if len(text) <= SHOWN_LENGTH else f'{text[:SHOWN_LENGTH - 3]}...'


def _yaml_float_hint(value):
    """How to write a number YAML 1.1 reads as a string ('1e-4', '1.0e10'): with a dot and a signed exponent."""
    try:
        number = float(value)
    except ValueError:
        return ''
    return f' (YAML reads {value} as a string: write {number:.1e} or !!float {value})'


def suggest(key, known):
    """`` Did you mean 'x'?`` for the known name closest to ``key``, or an empty string."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f' Did you mean {close[0]!r}?' if close else ''


def is_section(kind):
    """True for a section class (the type of a nested section's field)."""
    return isinstance(kind, type) and issubclass(kind, Section)


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a value of one key may be.

    Args:
        kind (type): bool, int, float (any real number but bool), str, dict, list, tuple (a YAML list, stored as a
            tuple) or a section class (a nested section: a mapping, null for its defaults).
        nullable (bool): null (None) is accepted. Default: False.
        gt (float | None): Values must be greater. Default: None.
        ge (float | None): Values must be greater or equal. Default: None.
        lt (float | None): Values must be smaller. Default: None.
        le (float | None): Values must be smaller or equal. Default: None.
        choices (tuple | None): The accepted values. Default: None.
    """

    kind: type
    nullable: bool = False
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None
    choices: tuple | None = None

    def describe(self):
        """What the value must be, as messages say it: 'a positive int', 'a number in [0, 1) or null', ..."""
        noun = _NOUNS.get(self.kind)
        if is_section(self.kind):
            text = f'a mapping ({self.kind.__name__})'
        elif self.choices is not None:
            text = 'one of ' + ', '.join(repr(choice) for choice in self.choices)
        elif noun and self.gt == 0 and self.ge is None and self.lt is None:
            text = f'a positive {noun}'
        elif noun and self.ge is not None and (self.lt is not None or self.le is not None):
            text = f'{_TYPE_WORDS[self.kind]} in [{self.ge}, ' + (f'{self.lt})' if self.le is None else f'{self.le}]')
        elif noun and self.ge is not None:
            text = f'{_TYPE_WORDS[self.kind]} >= {self.ge}'
        else:
            text = _TYPE_WORDS[self.kind]
        return f'{text} or null' if self.nullable else text

    def check(self, key, value):
        """Raise :class:`OptionError` naming ``key`` when ``value`` breaks the rule."""
        if value is None:
            if not (self.nullable or is_section(self.kind)):
                raise OptionError(f'{key} must be {self.describe()}, got null.')
            return
        if not self._has_kind(value):
            hint = _yaml_float_hint(value) if isinstance(value, str) and self.kind is float else ''
            raise OptionError(f'{key} must be {self.describe()}, got {shown(value)} ({type(value).__name__}){hint}.')
        if not self._in_bounds(value):
            raise OptionError(f'{key} must be {self.describe()}, got {shown(value)}.')

    def _has_kind(self, value):
        """isinstance with YAML's types: float takes any real number, bool is no number, a list is a tuple."""
        if isinstance(value, bool):
            return self.kind is bool
        if is_section(self.kind):
            return isinstance(value, (dict, self.kind))
        kinds = {float: Real, tuple: (list, tuple)}.get(self.kind, self.kind)
        return isinstance(value, kinds)

    def _in_bounds(self, value):
        return ((self.choices is None or value in self.choices) and (self.gt is None or value > self.gt)
                and (self.ge is None or value >= self.ge) and (self.lt is None or value < self.lt)
                and (self.le is None or value <= self.le))


def option(default=REQUIRED, doc='', inherit=False, builds=None, **bounds):
    """One key of a section; its type is the field's annotation (``X | None``: null is accepted).

    Args:
        default: The value when the key is absent; ``REQUIRED`` when it must be given. Default: REQUIRED.
        doc (str): What the key means (it goes into the section's docstring). Default: ''.
        inherit (bool): When absent, the key takes the value of the section around it (``from_dict``'s
            ``inherited``, e.g. a data set's scale for its degradation); when given, it must equal it. Default: False.
        builds (Registry | None): The key is a constructor section (``type`` and keyword arguments) of a class in
            this BasicSR registry, e.g. a loss term; ``signatures.check_built_sections`` checks it. Default: None.
        bounds: ``gt``, ``ge``, ``lt``, ``le`` or ``choices`` of :class:`Rule`.

    Returns:
        dataclasses.Field: The field.
    """
    metadata = {'doc': doc, 'bounds': bounds, 'inherit': inherit, 'builds': builds}
    return dataclasses.field(default=default, metadata=metadata)


def _rule(field):
    """The :class:`Rule` of a dataclass field made by :func:`option`."""
    kinds = field.type.__args__ if isinstance(field.type, types.UnionType) else (field.type, )
    kind, = (k for k in kinds if k is not type(None))
    return Rule(kind, type(None) in kinds, **field.metadata['bounds'])


def key_name(section_name, key):
    """A key as messages name it: 'train.lazy_reg', or 'scale' at the top level."""
    return f'{section_name}.{key}' if section_name else key


class Section:
    """Base of the typed sections: ``section_name`` is the YAML section ('' for the top level), ``rules`` the
    :class:`Rule` of each key."""

    section_name: ClassVar[str]
    rules: ClassVar[dict]

    def __post_init__(self):
        for name, rule in self.rules.items():
            if rule.kind is tuple and isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not _checked_by_from_dict.get():
            key = functools.partial(key_name, self.section_name)
            for field in dataclasses.fields(self):
                value = getattr(self, field.name)
                if value is not field.default:  # the defaults, written in the section, are right
                    self.rules[field.name].check(key(field.name), value)
            self.validate(key)

    def validate(self, key):
        """The rules between keys of a section (override it); raise :class:`OptionError` naming the key.

        Args:
            key (callable): ``key('x')`` is key x's name in messages, e.g. 'datasets.train.degradation.x'.
        """

    def updated(self, **changes):
        """The settings with the ``changes`` that are not None (None: keep the value, as every layer passes it
        through): a copy, or these settings themselves when nothing changes.

        Returns:
            Section: The settings.
        """
        changes = {name: value for name, value in changes.items() if value is not None and value != getattr(self, name)}
        return dataclasses.replace(self, **changes) if changes else self

    @classmethod
    def check_keys(cls, options, section_name=None):
        """Check the key names of a YAML section, not their values: one :class:`OptionError` for the first unknown
        (with "did you mean") or missing required key.

        Args:
            options (dict | None): The section; None is an empty one.
            section_name (str | None): Its name in messages, e.g. 'datasets.train'. Default: None (``section_name``).

        Returns:
            dict: The section ({} for None).
        """
        name = cls.section_name if section_name is None else section_name
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise OptionError(f'{name or "The option file"} must be a mapping, got {type(options).__name__}.')
        for key in options:
            if key not in cls.rules:
                raise OptionError(f'Unknown option {key_name(name, key)}.{suggest(key, cls.rules)} '
                                  f'Known keys: {", ".join(sorted(cls.rules))}.')
        for field in dataclasses.fields(cls):
            if field.default is REQUIRED and field.name not in options:
                raise OptionError(f'{key_name(name, field.name)} is missing.')
        return options

    @classmethod
    def check_known(cls, options, section_name=None):
        """Check the values of the keys this section declares where a YAML section has them, and leave its other keys
        alone: a section of one of BasicSR's own models, which also reads keys srddgan does not declare.

        Args:
            options (dict | None): The section; None is an empty one.
            section_name (str | None): Its name in messages. Default: None (``section_name``).
        """
        name = cls.section_name if section_name is None else section_name
        if not isinstance(options, (dict, type(None))):
            raise OptionError(f'{name or "The option file"} must be a mapping, got {type(options).__name__}.')
        for key, value in (options or {}).items():
            if key in cls.rules:
                cls.rules[key].check(key_name(name, key), value)

    @classmethod
    def from_dict(cls, options, section_name=None, inherited=None):
        """Check a YAML section and return its settings, defaults filled in; one :class:`OptionError` per mistake.

        Args:
            options (dict | None): The section; None is an empty one.
            section_name (str | None): Its name in messages. Default: None (``section_name``).
            inherited (dict | None): The values of the section around it; keys declared ``inherit`` take theirs.
                Default: None.

        Returns:
            Section: The settings.
        """
        name = cls.section_name if section_name is None else section_name
        key = functools.partial(key_name, name)
        values = dict(cls.check_keys(options, name))
        for field in dataclasses.fields(cls):
            outer = (inherited or {}).get(field.name) if field.metadata['inherit'] else None
            if outer is not None and values.setdefault(field.name, outer) != outer:
                raise OptionError(f'{key(field.name)} is {shown(values[field.name])} but the {field.name} around it '
                                  f'is {shown(outer)}: leave it out or make them equal.')
        for name_, value in values.items():
            cls.rules[name_].check(key(name_), value)
        merged = {field.name: field.default for field in dataclasses.fields(cls)} | values
        for field in dataclasses.fields(cls):
            if is_section(cls.rules[field.name].kind) and not isinstance(values.get(field.name), Section):
                values[field.name] = cls.rules[field.name].kind.from_dict(values.get(field.name), key(field.name),
                                                                          merged)
        token = _checked_by_from_dict.set(True)
        try:
            settings = cls(**values)
        finally:
            _checked_by_from_dict.reset(token)
        settings.validate(key)
        return settings


def section(name):
    """Class decorator: a frozen keyword-only dataclass for the YAML section ``name``, its keys in the docstring.

    Args:
        name (str): The section's name in option files and messages, e.g. 'train'; '' for the top level.
    """
    def decorate(cls):
        cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        cls.section_name = name
        SECTIONS.setdefault(name, cls)
        cls.rules = {field.name: _rule(field) for field in dataclasses.fields(cls)}
        lines = []
        for field in dataclasses.fields(cls):
            default = 'Required' if field.default is REQUIRED else f'Default: {field.default!r}'
            if is_section(cls.rules[field.name].kind):
                default = f'Default: the defaults of {cls.rules[field.name].kind.__name__}'
            lines.append(f'        {field.name} ({cls.rules[field.name].describe()}): {field.metadata["doc"]} '
                         f'{default}.')
        cls.__doc__ = f'{cls.__doc__.rstrip()}\n\n    Args:\n' + '\n'.join(lines) + '\n'
        return cls
    return decorate
