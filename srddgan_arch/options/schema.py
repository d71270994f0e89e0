"""The machinery of typed option sections: a key's type, default, bounds and meaning, written once, checked once.

A section is a frozen dataclass whose fields are the YAML keys (see ``sections.py``); ``option()`` declares one key.
``from_dict`` checks a YAML mapping against it and returns the settings with the defaults filled in.
"""
import dataclasses
import difflib
import types
from numbers import Real
from typing import Any, ClassVar

REQUIRED = dataclasses.MISSING
# type of a field -> what a value of it is called in messages
_TYPE_WORDS = {bool: 'true or false', int: 'an int', float: 'a number', str: 'a string', dict: 'a mapping',
               list: 'a list'}
_NOUNS = {int: 'int', float: 'number'}


class OptionError(ValueError):
    """An option is unknown, misspelt, of the wrong type or inconsistent with another one."""


def suggest(key, known):
    """`` Did you mean 'x'?`` for the known name closest to ``key``, or an empty string."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f' Did you mean {close[0]!r}?' if close else ''


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a value of one key may be.

    Args:
        kind (type): bool, int, float (any real number but bool), str, dict or list.
        nullable (bool): null (None) is accepted. Default: False.
        gt (float | None): Values must be greater. Default: None.
        ge (float | None): Values must be greater or equal. Default: None.
        lt (float | None): Values must be smaller. Default: None.
        choices (tuple | None): The accepted values. Default: None.
    """

    kind: type
    nullable: bool = False
    gt: Any = None
    ge: Any = None
    lt: Any = None
    choices: tuple | None = None

    def describe(self):
        """What the value must be, as messages say it: 'a positive int', 'a number in [0, 1) or null', ..."""
        noun = _NOUNS.get(self.kind)
        if self.choices is not None:
            text = 'one of ' + ', '.join(repr(choice) for choice in self.choices)
        elif noun and self.gt == 0 and self.ge is None and self.lt is None:
            text = f'a positive {noun}'
        elif noun and self.ge is not None and self.lt is not None:
            text = f'{_TYPE_WORDS[self.kind]} in [{self.ge}, {self.lt})'
        elif noun and self.ge is not None:
            text = f'{_TYPE_WORDS[self.kind]} >= {self.ge}'
        else:
            text = _TYPE_WORDS[self.kind]
        return f'{text} or null' if self.nullable else text

    def check(self, key, value):
        """Raise :class:`OptionError` naming ``key`` when ``value`` breaks the rule."""
        if value is None:
            if not self.nullable:
                raise OptionError(f'{key} must be {self.describe()}, got null.')
            return
        if not self._has_kind(value):
            yaml_string = isinstance(value, str) and self.kind is float
            hint = ' (YAML reads 1e-4 as a string: write 1.0e-4)' if yaml_string else ''
            raise OptionError(f'{key} must be {self.describe()}, got {value!r} ({type(value).__name__}){hint}.')
        if not self._in_bounds(value):
            raise OptionError(f'{key} must be {self.describe()}, got {value!r}.')

    def _has_kind(self, value):
        """isinstance with YAML's numbers: float takes any real number, and bool is no number."""
        if isinstance(value, bool):
            return self.kind is bool
        return isinstance(value, Real) if self.kind is float else isinstance(value, self.kind)

    def _in_bounds(self, value):
        return ((self.choices is None or value in self.choices) and (self.gt is None or value > self.gt)
                and (self.ge is None or value >= self.ge) and (self.lt is None or value < self.lt))


def option(default=REQUIRED, doc='', **bounds):
    """One key of a section; its type is the field's annotation (``X | None``: null is accepted).

    Args:
        default: The value when the key is absent; ``REQUIRED`` when it must be given. Default: REQUIRED.
        doc (str): What the key means (it goes into the section's docstring). Default: ''.
        bounds: ``gt``, ``ge``, ``lt`` or ``choices`` of :class:`Rule`.

    Returns:
        dataclasses.Field: The field.
    """
    return dataclasses.field(default=default, metadata={'doc': doc, 'bounds': bounds})


def _rule(field):
    """The :class:`Rule` of a dataclass field made by :func:`option`."""
    kinds = field.type.__args__ if isinstance(field.type, types.UnionType) else (field.type, )
    kind, = (k for k in kinds if k is not type(None))
    return Rule(kind, type(None) in kinds, **field.metadata['bounds'])


class Section:
    """Base of the typed sections: ``section_name`` is the YAML section ('' for the top level), ``rules`` the
    :class:`Rule` of each key."""

    section_name: ClassVar[str]
    rules: ClassVar[dict]

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
                raise OptionError(f'Unknown option {_key(name, key)}.{suggest(key, cls.rules)} '
                                  f'Known keys: {", ".join(sorted(cls.rules))}.')
        for field in dataclasses.fields(cls):
            if field.default is REQUIRED and field.name not in options:
                raise OptionError(f'{_key(name, field.name)} is missing.')
        return options

    @classmethod
    def from_dict(cls, options, section_name=None):
        """Check a YAML section and return its settings, defaults filled in; one :class:`OptionError` per mistake.

        Args:
            options (dict | None): The section; None is an empty one.
            section_name (str | None): Its name in messages. Default: None (``section_name``).

        Returns:
            Section: The settings.
        """
        options = cls.check_keys(options, section_name)
        for key, value in options.items():
            cls.rules[key].check(_key(cls.section_name if section_name is None else section_name, key), value)
        return cls(**options)


def _key(section_name, key):
    """A key as messages name it: 'train.lazy_reg', or 'scale' at the top level."""
    return f'{section_name}.{key}' if section_name else key


def section(name):
    """Class decorator: a frozen keyword-only dataclass for the YAML section ``name``, its keys in the docstring.

    Args:
        name (str): The section's name in option files and messages, e.g. 'train'; '' for the top level.
    """
    def decorate(cls):
        cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        cls.section_name = name
        cls.rules = {field.name: _rule(field) for field in dataclasses.fields(cls)}
        lines = []
        for field in dataclasses.fields(cls):
            default = 'Required' if field.default is REQUIRED else f'Default: {field.default!r}'
            lines.append(f'        {field.name} ({cls.rules[field.name].describe()}): {field.metadata["doc"]} '
                         f'{default}.')
        cls.__doc__ = f'{cls.__doc__.rstrip()}\n\n    Args:\n' + '\n'.join(lines) + '\n'
        return cls
    return decorate
