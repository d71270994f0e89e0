"""The commands of README.md and docs/*.md name what exists: every script, every option file and every flag they give
is one the program accepts.

Checked statically, without running a command: the fenced shell blocks are read, each program's argparse parser is
built by calling its ``main`` with ``parse_known_args`` replaced by a function that hands the parser back before any
argument is parsed (BasicSR's ``parse_options`` for ``train.py`` / ``test.py``, whose entry points run a pipeline).
"""
import argparse
import glob
import importlib
import importlib.util
import inspect
import re
import shlex
import sys
from functools import partial
from os import path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHELL_BLOCKS = ('', 'bash', 'sh', 'shell', 'console')
BASICSR_PIPELINES = ('srddgan-train', 'srddgan-test', 'srddgan_arch/train.py', 'srddgan_arch/test.py')
NAMED_FILE = re.compile(r'(?<![\w/])((?:scripts|srddgan_arch)/[\w/]+\.py|options/[\w.-]+\.yml)\b')


def doc_files():
    """README.md and every page of docs/."""
    return [osp.join(ROOT, 'README.md')] + sorted(glob.glob(osp.join(ROOT, 'docs', '*.md')))


def command_lines(text):
    """The shell command lines of a markdown text's fenced shell blocks (continuations joined, ``$`` prompts removed;
    a console block's lines without a prompt are output and left out) and the commands in its tables' code spans."""
    lines = re.findall(r'^\|.*?`((?:srddgan-[a-z]+|python|torchrun) [^`]+)`', text, flags=re.M)
    for language, block in re.findall(r'^```(\w*)\n(.*?)^```', text, flags=re.S | re.M):
        if language not in SHELL_BLOCKS:
            continue
        for line in re.sub(r'\\\n\s*', ' ', block).splitlines():
            if language == 'console' and not line.startswith('$ '):
                continue
            lines.append(line.removeprefix('$ ').strip())
    return lines


def commands(line):
    """The simple commands of a shell line (split at ``&&``, ``||``, ``;`` and ``|``), each a token list without
    leading variable assignments; comments dropped. A line that is not shell (program output) gives none."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return []
    result, current = [], []
    for token in tokens + [';']:
        if token in ('&&', '||', ';', '|', '&'):
            while current and re.match(r'^[A-Za-z_]\w*=', current[0]):
                current.pop(0)
            if current:
                result.append(current)
            current = []
        else:
            current.append(token)
    return result


def program_of(tokens):
    """The program a command runs and the arguments given to it: ``(name, args)``, the name a console script
    (``srddgan-infer``) or a repository path (``scripts/run_demo.py``); None for other programs (pip, pytest, shell).
    ``torchrun ... X.py`` and ``srun ... python X.py`` run ``X.py``."""
    if tokens[0].startswith('srddgan-'):
        return tokens[0], tokens[1:]
    if tokens[0] in ('python', 'python3', 'torchrun', 'srun'):
        for index, token in enumerate(tokens):
            if token.endswith('.py'):
                return osp.normpath(token), tokens[index + 1:]
    return None


class _Parsed(BaseException):
    """Raised instead of parsing: carries the parser (a BaseException, so that ``except Exception`` lets it pass)."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def run_main(main):
    """Call a program's ``main`` with an empty command line: ``main([])``, or ``main()`` with ``sys.argv`` emptied."""
    if inspect.signature(main).parameters:
        return main([])
    argv = sys.argv
    sys.argv = [argv[0]]
    try:
        return main()
    finally:
        sys.argv = argv


def parser_flags(call):
    """The option strings of the argparse parser that ``call()`` builds, stopped before it parses anything."""
    def hand_back(parser, args=None, namespace=None):
        raise _Parsed(parser)

    original = argparse.ArgumentParser.parse_known_args
    argparse.ArgumentParser.parse_known_args = hand_back
    try:
        call()
    except _Parsed as parsed:
        return set(parsed.parser._option_string_actions)
    finally:
        argparse.ArgumentParser.parse_known_args = original
    raise AssertionError(f'{call} returned without building an argument parser')


def entry_points():
    """pyproject.toml's console scripts: name -> 'module:function'."""
    with open(osp.join(ROOT, 'pyproject.toml'), encoding='utf-8') as f:
        section = re.search(r'^\[project\.scripts\]\n(.*?)(?=^\[)', f.read(), flags=re.S | re.M).group(1)
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, flags=re.M))


_FLAGS = {}


def accepted_flags(program):
    """The flags ``program`` (a console script or a repository path) accepts; None when it does not exist."""
    if program not in _FLAGS:
        if program in BASICSR_PIPELINES:
            from basicsr.utils import options
            _FLAGS[program] = parser_flags(lambda: options.parse_options(ROOT, is_train=True))
        elif program.startswith('srddgan-'):
            target = entry_points().get(program)
            if target is None:
                return None
            module, function = target.split(':')
            _FLAGS[program] = parser_flags(partial(run_main, getattr(importlib.import_module(module), function)))
        else:
            if not osp.isfile(osp.join(ROOT, program)):
                return None
            name = 'docs_checked_' + re.sub(r'\W', '_', program)
            spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, program))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _FLAGS[program] = parser_flags(partial(run_main, module.main))
    return _FLAGS[program]


def option_file_errors(args):
    """The option files named after ``-opt`` that do not exist: a path, or a packaged name (``options/<name>.yml``);
    ``options/X.yml`` paths are checked with the other files a line names, a shell variable (``$opt``) not at all."""
    errors = []
    for index, token in enumerate(args):
        if token in ('-opt', '--opt') and index + 1 < len(args) and not NAMED_FILE.search(args[index + 1]):
            value = args[index + 1]
            if value.startswith('$'):
                continue
            path = value if '/' in value or value.endswith('.yml') else f'options/{value}.yml'
            if not osp.isfile(osp.join(ROOT, path)):
                errors.append(f'option file {value} does not exist')
    return errors


def check_line(line):
    """The mistakes of one documented command line: missing scripts and option files, flags the program refuses."""
    errors = []
    for tokens in commands(line):
        if not (tokens[0].startswith('srddgan-') or tokens[0] in ('python', 'python3', 'torchrun', 'srun', 'pip')):
            continue
        for path in NAMED_FILE.findall(' '.join(tokens)):
            if not osp.isfile(osp.join(ROOT, path)):
                errors.append(f'{path} does not exist')
        errors += option_file_errors(tokens)
        found = program_of(tokens)
        if found is None or any(error.startswith(found[0]) for error in errors):
            continue
        program, args = found
        flags = accepted_flags(program)
        if flags is None:
            errors.append(f'{program} is not a program of this project')
            continue
        for arg in args:
            flag = arg.split('=', 1)[0]
            if re.match(r'^--?[A-Za-z]', flag) and flag not in flags:
                errors.append(f'{program} does not accept {flag}')
    return errors


def check_text(text):
    """Every mistake of a markdown text's commands, as ``'line: mistake'``."""
    return [f'{line}: {error}' for line in command_lines(text) for error in check_line(line)]


def test_checker_finds_missing_scripts_option_files_and_unknown_flags():
    """A fake page with a missing script, a missing option file (path and packaged name), an unknown flag of a script
    and of a console script gives one mistake each; correct commands, output blocks and other programs give none."""
    bad = '\n'.join([
        '| train | `srddgan-train -opt train_SRDDGAN_demo_x4 --no_such_flag` |',
        '```bash',
        'python scripts/no_such_script.py --input x',
        'python scripts/count_params.py -opt options/no_such_file.yml',
        'srddgan-infer -i a.png -o out -opt no_such_option --model_path g.pth',
        'python scripts/count_params.py --no_such_flag',
        'srddgan-export --safetensors --no-such-flag -opt train_SRDDGAN_demo_x4 --model_path g.pth -o g.safetensors',
        'torchrun --nproc_per_node=2 srddgan_arch/train.py -opt train_SRDDGAN_demo_x4 --launcher pytorch --resume',
        '```',
    ])
    errors = check_text(bad)
    expected = ['srddgan-train does not accept --no_such_flag', 'scripts/no_such_script.py does not exist',
                'options/no_such_file.yml does not exist', 'option file no_such_option does not exist',
                'scripts/count_params.py does not accept --no_such_flag',
                'srddgan-export does not accept --no-such-flag', 'srddgan_arch/train.py does not accept --resume']
    assert [error.split(': ', 1)[1] for error in errors] == expected
    good = '\n'.join([
        '```bash',
        'G=net.pth srddgan-infer -i a.png -o out -opt train_SRDDGAN_demo_x4 --model_path $G --tile=64 -s 2  # note',
        'pip install -e ".[onnx]" && python -m pytest -q tests',
        'torchrun --nproc_per_node=2 srddgan_arch/train.py -opt options/train_SRDDGAN_demo_x4.yml --auto_resume \\',
        '    --launcher pytorch',
        '```',
        '```',
        'demo_result: psnr=29.77 --not-a-flag scripts/not_a_command.py',
        '```',
        '```yaml',
        'python scripts/not_shell.py',
        '```',
    ])
    assert check_text(good) == []


@pytest.mark.parametrize('page', doc_files(), ids=lambda page: osp.relpath(page, ROOT))
def test_documented_commands_name_what_exists(page):
    """Every command of the page names scripts and option files that exist, and flags its program accepts."""
    with open(page, encoding='utf-8') as f:
        text = f.read()
    assert check_text(text) == []
    assert command_lines(text) or page.endswith('design.md'), f'{page}: no command found to check'


def heading_anchors(text):
    """The anchors GitHub gives a markdown text's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)
    return {re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
            for heading in re.findall(r'^#+ (.+)$', text, flags=re.M)}


def test_heading_anchors_follow_github():
    """Headings become GitHub's anchors; fenced blocks hold no headings."""
    text = '## BasicSR 1.4.2 fixes\n### Trained weights: files, addresses\n```bash\n# not a heading\n```\n'
    assert heading_anchors(text) == {'basicsr-142-fixes', 'trained-weights-files-addresses'}


@pytest.mark.parametrize('page', doc_files(), ids=lambda page: osp.relpath(page, ROOT))
def test_links_point_to_existing_files_and_headings(page):
    """Every relative link of the page names a file that exists and, with ``#anchor``, a heading of that file."""
    with open(page, encoding='utf-8') as f:
        text = f.read()
    broken = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'^[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        path = osp.normpath(osp.join(osp.dirname(page), path)) if path else page
        if not osp.exists(path):
            broken.append(target)
        elif anchor:
            with open(path, encoding='utf-8') as f:
                if anchor not in heading_anchors(f.read()):
                    broken.append(target)
    assert broken == []
