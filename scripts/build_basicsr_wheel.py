"""Build the pure-Python wheel of BasicSR 1.4.2 that srddgan installs, reproducibly, from BasicSR's released sdist.

BasicSR 1.4.2 is on PyPI as an sdist only. Its ``setup.py`` fails on Python 3.13 (PEP 667: ``locals()`` no longer
sees what ``exec`` defined) and declares torch, numpy and Cython as ``setup_requires``. srddgan's constraints files
point pip at the wheel this script builds (``--find-links third_party/basicsr``, ``--only-binary basicsr``), so pip
never runs BasicSR's ``setup.py`` on a user's machine.

The script downloads the sdist (or reads ``--sdist``), checks its SHA-256 (PyPI's), unpacks it, applies ``PATCHES``
(three edits of ``setup.py``; no file of the package changes) and builds the wheel with setuptools ``SETUPTOOLS`` in a
throwaway virtual environment, with ``SOURCE_DATE_EPOCH`` set to the sdist's own date: the same sdist gives the same
bytes on every machine. No C++/CUDA extension is built (BasicSR builds them only with ``BASICSR_EXT=True``, so pip's
default build of the sdist has none either; srddgan uses none of the operators that need them). It needs the Python
standard library and access to the package index (setuptools), not torch.

Usage: ``python scripts/build_basicsr_wheel.py [--sdist basicsr-1.4.2.tar.gz] [-o third_party/basicsr]``. Writes
``basicsr-1.4.2-py3-none-any.whl`` and BasicSR's ``LICENSE.txt`` into the output folder and prints the wheel's SHA-256.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from os import path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SDIST_URL = ('https://files.pythonhosted.org/packages/86/41/00a6b000f222f0fa4c6d9e1d6dcc9811a374cabb8abb9d408b77de39648c/'
             'basicsr-1.4.2.tar.gz')
SDIST_SHA256 = 'b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87'
WHEEL_NAME = 'basicsr-1.4.2-py3-none-any.whl'
# the setuptools the committed wheel was built with: its version is written into the wheel (WHEEL's Generator)
SETUPTOOLS = '84.2.1'
# (text of BasicSR 1.4.2's setup.py, its replacement): each text must occur exactly once
PATCHES = [
    # PEP 667 (Python 3.13): read the version from the namespace exec fills, not from a locals() snapshot
    ("        exec(compile(f.read(), version_file, 'exec'))\n    return locals()['__version__']\n",
     "        namespace = {}\n        exec(compile(f.read(), version_file, 'exec'), namespace)\n"
     "    return namespace['__version__']\n"),
    # keep the released basicsr/version.py: regenerating it would write the build's clock time and 'unknown' as the
    # git hash into the wheel
    ('    write_version_py()\n', ''),
    # only the C++/CUDA extensions, never built here, need them; declared, pip installs torch to build a wheel
    ("        setup_requires=['cython', 'numpy', 'torch'],\n", ''),
]


def sha256(path):
    """SHA-256 hex digest of the file ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(folder):
    """Download the sdist from PyPI into ``folder``; return its path."""
    path = osp.join(folder, osp.basename(SDIST_URL))
    with urllib.request.urlopen(SDIST_URL, timeout=120) as response, open(path, 'wb') as f:
        shutil.copyfileobj(response, f)
    return path


def unpack_and_patch(sdist, folder):
    """Unpack ``sdist`` into ``folder`` and apply ``PATCHES`` to its setup.py.

    Returns:
        tuple[str, int]: The source tree and the sdist's date (its setup.py's modification time, seconds since 1970).
    """
    with tarfile.open(sdist) as tar:
        date = int(tar.getmember('basicsr-1.4.2/setup.py').mtime)
        # 'data' rejects links and paths outside folder; Pythons before 3.11.4 lack filters
        tar.extractall(folder, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
    source = osp.join(folder, 'basicsr-1.4.2')
    with open(osp.join(source, 'setup.py'), encoding='utf-8') as f:
        setup_py = f.read()
    for old, new in PATCHES:
        if setup_py.count(old) != 1:
            raise RuntimeError(f'setup.py of {osp.basename(sdist)} does not contain exactly once: {old!r}')
        setup_py = setup_py.replace(old, new)
    with open(osp.join(source, 'setup.py'), 'w', encoding='utf-8') as f:
        f.write(setup_py)
    return source, date


def build_wheel(source, date, folder):
    """Build the wheel of ``source`` into ``folder`` with setuptools ``SETUPTOOLS`` in a new virtual environment.

    Returns:
        str: The wheel's path.
    """
    venv = osp.join(folder, 'venv')
    subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
    python = osp.join(venv, 'Scripts' if os.name == 'nt' else 'bin', 'python')
    pip = [python, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run(pip + ['install', f'setuptools=={SETUPTOOLS}'], check=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(date))
    subprocess.run(pip + ['wheel', '--no-deps', '--no-build-isolation', '--no-cache-dir', '-w', folder, source],
                   check=True, env=env)
    return osp.join(folder, WHEEL_NAME)


def build(sdist, output):
    """Check ``sdist`` (downloaded when None), build the wheel and copy it and the licence into ``output``.

    Returns:
        str: The path of the wheel in ``output``.
    """
    os.makedirs(output, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = sdist or fetch_sdist(tmp)
        if sha256(sdist) != SDIST_SHA256:
            raise RuntimeError(f'{sdist}: SHA-256 {sha256(sdist)}, not that of the released sdist {SDIST_SHA256}')
        source, date = unpack_and_patch(sdist, tmp)
        wheel = build_wheel(source, date, tmp)
        for src, name in ((wheel, WHEEL_NAME), (osp.join(source, 'LICENSE.txt'), 'LICENSE.txt')):
            # copied beside, then renamed: the output is whole or absent, and a link there is replaced
            target = osp.join(output, name)
            shutil.copyfile(src, f'{target}.tmp{os.getpid()}')
            os.replace(f'{target}.tmp{os.getpid()}', target)
    return osp.join(output, WHEEL_NAME)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sdist', help='basicsr-1.4.2.tar.gz on disk (default: download it from PyPI)')
    parser.add_argument('-o', '--output', default=osp.join(ROOT, 'third_party', 'basicsr'),
                        help='folder for the wheel and the licence. Default: third_party/basicsr')
    args = parser.parse_args(argv)
    if args.sdist and not osp.isfile(args.sdist):
        parser.error(f'--sdist {args.sdist}: no such file')
    wheel = build(args.sdist, args.output)
    print(f'{wheel} sha256={sha256(wheel)}')


if __name__ == '__main__':
    main()
