"""The option files that ship with srddgan, found by name: ``-opt train_SRDDGAN_demo_x4``.

The repository keeps one copy of them, in ``options/``; the wheel ships that folder as ``srddgan_arch/configs``
(``setup.py``). Every command that takes ``-opt`` reads a name without ``/`` and without ``.yml`` as one of these
files and anything else as a path, so ``options/X.yml`` keeps working in a checkout.
"""
import argparse
import os
from os import path as osp

import yaml

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
OPTION_EXTENSIONS = ('.yml', '.yaml')
# values an option file may hold once its aliases are expanded (srddgan's hold a few hundred); a file of a few
# kilobytes whose aliases nest (a "billion laughs" file) expands to billions
MAX_EXPANDED_VALUES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, refusing documents whose aliases expand beyond ``MAX_EXPANDED_VALUES`` and
    mappings that give a key twice (YAML keeps the last silently: an edit of the first would change nothing)."""

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node, self.name, '', {})
        _check_duplicate_keys(node, self.name, '', set())
        return node


def _check_duplicate_keys(node, source, key, seen):
    """Raise naming the file, the key and both lines when a mapping of ``node`` gives a key twice (merge keys
    ``<<`` aside: overriding merged keys is what they are for)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    children = node.value if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) else []
    if isinstance(node, yaml.MappingNode):
        lines = {}
        for key_node, value in children:
            if key_node.tag == 'tag:yaml.org,2002:merge' or not isinstance(key_node, yaml.ScalarNode):
                continue
            name = f'{key}.{key_node.value}' if key else str(key_node.value)
            if key_node.value in lines:
                raise yaml.YAMLError(f'{source}: {name} is given twice, on lines {lines[key_node.value]} and '
                                     f'{key_node.start_mark.line + 1}: keep one.')
            lines[key_node.value] = key_node.start_mark.line + 1
            _check_duplicate_keys(value, source, name, seen)
    else:
        for index, child in enumerate(children):
            _check_duplicate_keys(child, source, f'{key}[{index}]', seen)


def _expanded_size(node, sizes):
    """How many values ``node`` holds once every alias is expanded (a shared node counted at each use)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a recursive alias counts once
        if isinstance(node, yaml.SequenceNode):
            sizes[id(node)] += sum(_expanded_size(child, sizes) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            sizes[id(node)] += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    return sizes[id(node)]


def _check_expansion(node, source, key, sizes):
    """Raise naming the deepest key whose value alone expands beyond the bound."""
    if _expanded_size(node, sizes) <= MAX_EXPANDED_VALUES:
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if _expanded_size(value, sizes) > MAX_EXPANDED_VALUES:
                name = f'{key}.{key_node.value}' if key else str(key_node.value)
                return _check_expansion(value, source, name, sizes)
    where = key or 'the document'
    raise yaml.YAMLError(f'{source}: {where} expands to more than {MAX_EXPANDED_VALUES:,} values through its aliases '
                         '(*name): not an option file.')


def load_yaml(path):
    """An option file (or any YAML file of srddgan's) as ``yaml.safe_load`` reads it: no python tags, and no
    aliases that expand without bound.

    Args:
        path (str): The YAML file.

    Returns:
        The document (None for an empty file).

    Raises:
        yaml.YAMLError: Bad YAML, a key given twice in a mapping, or aliases expanding beyond
            ``MAX_EXPANDED_VALUES``, naming the file and key.
    """
    with open(path, encoding='utf-8') as f:
        return yaml.load(f, Loader=_BoundedLoader)


def load_option_file(path):
    """An option file (:func:`load_yaml`) that is a mapping of options.

    Args:
        path (str): The file.

    Returns:
        dict: The options.

    Raises:
        yaml.YAMLError: Bad YAML, duplicate keys or aliases expanding without bound, naming the file.
        OptionError: The file is empty or not a mapping, naming it.
    """
    from srddgan_arch.options.schema import OptionError  # the options package imports BasicSR's registries
    opt = load_yaml(path)
    if not isinstance(opt, dict) or not opt:
        what = 'empty' if opt is None or opt == {} else f'a {type(opt).__name__}, not a mapping of options'
        raise OptionError(f'{path}: the option file is {what} (it starts with name:, model_type:, ...).')
    return opt


def option_files_folder():
    """The folder of the packaged option files: ``srddgan_arch/configs`` in an installed package, else the
    checkout's ``options/``."""
    installed = osp.join(PACKAGE_DIR, 'configs')
    return installed if osp.isdir(installed) else osp.join(osp.dirname(PACKAGE_DIR), 'options')


def packaged_option_files():
    """The packaged option files by name, sorted.

    Returns:
        dict[str, str]: Name (the file name without ``.yml``) -> path.
    """
    folder = option_files_folder()
    names = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    return {osp.splitext(name)[0]: osp.join(folder, name) for name in names if name.endswith(OPTION_EXTENSIONS)}


def is_option_name(value):
    """True when ``value`` names a packaged option file: no folder separator and no ``.yml``/``.yaml`` ending."""
    separators = {'/', os.sep, os.altsep} - {None}
    return not any(sep in value for sep in separators) and not value.lower().endswith(OPTION_EXTENSIONS)


def resolve_option_file(value):
    """The option file ``value`` stands for: the packaged file of that name, or ``value`` itself (a path).

    Args:
        value (str): A packaged name (``train_SRDDGAN_demo_x4``) or a path (``options/X.yml``, ``my.yml``).

    Returns:
        str: The path of the option file.

    Raises:
        FileNotFoundError: ``value`` is a name and no packaged option file has it.
    """
    if not is_option_name(value):
        return value
    files = packaged_option_files()
    if value not in files:
        raise FileNotFoundError(f'{value!r} is not a packaged option file (a path needs a / or the .yml ending); '
                                f'packaged: {", ".join(files) or "none"}.')
    return files[value]


def option_file_argument(value):
    """``argparse`` type of ``-opt``: :func:`resolve_option_file`, its error a usage error."""
    try:
        return resolve_option_file(value)
    except FileNotFoundError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def describe_option_files():
    """The packaged option files, one line each: name, model type and scale.

    Returns:
        str: The listing, with the folder in its first line.
    """
    files = packaged_option_files()
    width = max(map(len, files), default=0)
    lines = [f'Option files shipped with srddgan (-opt NAME), in {option_files_folder()}:']
    for name, path in files.items():
        opt = load_yaml(path) or {}
        lines.append(f'  {name:<{width}}  {opt.get("model_type", "?")}, x{opt.get("scale", "?")}')
    return '\n'.join(lines)


class ListOptionFiles(argparse.Action):
    """``--list-options``: print :func:`describe_option_files` and exit (like ``--help``, without other arguments)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(describe_option_files())
        parser.exit()
