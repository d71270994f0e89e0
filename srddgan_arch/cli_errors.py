"""How every srddgan command-line tool and script reports a user's mistake: one line on stderr, ``PROG: error:
message``, and a non-zero exit; the traceback only with ``--debug``.

A usage error (an argument argparse refuses) is :class:`OneLineParser`'s exit 2; a mistake found later (a missing
file, a bad image, option or checkpoint, a failed download) is one of ``USER_MISTAKES``, reported by :func:`run_main`
with the tool's exit code. Anything else is a bug of srddgan and keeps its traceback.
"""
import argparse
import contextlib
import sys

import yaml

# what a user's input or environment causes (files, images, options, checkpoints, downloads, memory, missing extras);
# OptionError, BadImageError and CheckpointError are ValueErrors, ImageTooLargeError a MemoryError
USER_MISTAKES = (OSError, ValueError, KeyError, MemoryError, ImportError, yaml.YAMLError)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (what is wrong, where to read more) and exit code 2."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def one_line(error):
    """An exception as one line: its message (KeyError's without quotes), or its type when it has none; the type
    leads for exceptions that are not user mistakes.

    Args:
        error (BaseException): The exception.

    Returns:
        str: The line.
    """
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.filename and error.strerror and message.startswith('[Errno'):
        message = f'{error.filename}: {error.strerror}'  # Python's "[Errno 2] No such file or directory: 'x'"
    message = ' '.join(str(message).split()) or type(error).__name__
    if isinstance(error, USER_MISTAKES):
        return message
    return f'{type(error).__name__}: {message}'


def report(prog, error):
    """Print ``PROG: error: <one line>`` on stderr.

    Args:
        prog (str): The tool's name.
        error (BaseException): The exception.
    """
    print(f'{prog}: error: {one_line(error)}', file=sys.stderr)


@contextlib.contextmanager
def one_line_usage_errors(prog):
    """Within it, every argparse parser reports a usage error as :class:`OneLineParser` does, named ``prog`` (the
    scripts build their parsers in many places, some shared with the library: the rule is set once, where they run).

    Args:
        prog (str): The tool's name, the start of the line.
    """
    def one_line_error(parser, message):
        parser.exit(2, f'{prog}: error: {message} (see --help)\n')

    error, argparse.ArgumentParser.error = argparse.ArgumentParser.error, one_line_error
    try:
        yield
    finally:
        argparse.ArgumentParser.error = error


def run_main(main, prog, argv=None, exit_code=1, own_debug=False, mistakes=USER_MISTAKES):
    """Run a tool's ``main(argv)`` and turn a user mistake into one line on stderr and ``exit_code`` (a usage error:
    one line and exit 2, :func:`one_line_usage_errors`); with ``--debug`` among the arguments the exception
    propagates with its traceback. ``if __name__ == '__main__':
    sys.exit(run_main(main, 'script.py'))``.

    Args:
        main (callable): ``main(argv)``, returning an exit code (None: 0) or anything else (0).
        prog (str): The tool's name, the start of the line.
        argv (list[str] | None): The arguments. Default: None (``sys.argv[1:]``).
        exit_code (int): The exit code of a user mistake. Default: 1.
        own_debug (bool): ``main``'s parser takes ``--debug`` itself (it is passed on); else ``--debug`` is taken
            out of ``argv`` here. Default: False.
        mistakes (tuple[type]): The exceptions reported in one line. Default: ``USER_MISTAKES``.

    Returns:
        int: The exit code.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = '--debug' in argv
    if not own_debug:
        argv = [arg for arg in argv if arg != '--debug']
    try:
        with one_line_usage_errors(prog):
            code = main(argv)
    except mistakes as error:
        if debug:
            raise
        report(prog, error)
        return exit_code
    except KeyboardInterrupt:
        print(f'{prog}: interrupted.', file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0
