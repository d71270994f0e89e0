"""``srddgan-infer`` when things go wrong: huge images and files refused before they are read, outputs never
replaced unless told, link loops and Ctrl-C ending with a summary."""
import os
import re

import cv2
import numpy as np
import pytest
from conftest import run_cli

from srddgan_arch.commands import infer
from srddgan_arch.inference import paths


def test_cli_refuses_huge_images_and_files_before_reading_them(tmp_path, capsys, model_args, monkeypatch):
    """A PNG declaring 20000x20000 pixels (beyond Pillow's limit: its header was not read and a 4.5 GiB decode was
    attempted) is refused from its header; a file larger than the free memory (8 GiB of nothing) before it is read;
    -s so small that no pixel is left is one line."""
    from test_image_io import png_header

    (tmp_path / 'huge.png').write_bytes(png_header(20000, 20000))
    with open(tmp_path / 'empty.png', 'wb') as f:
        f.truncate(8 * 2**30)  # sparse: no disk space used
    with open(tmp_path / 'long.png', 'wb') as f:  # a 4x4 image's header, then 8 GiB
        f.write(png_header(4, 4))
        f.truncate(8 * 2**30)
    monkeypatch.setattr(paths, 'read_bytes', lambda path, max_bytes: pytest.fail(f'{path} read before the checks'))
    argv = ['-o', str(tmp_path / 'out'), '--max_memory', '2', *model_args]
    code, err = run_cli(capsys, '-i', str(tmp_path / 'huge.png'), *argv)
    assert code == 1 and re.search(r'huge\.png \(20000x20000\) needs about \d+\.\d GiB', err), err
    code, err = run_cli(capsys, '-i', str(tmp_path / 'empty.png'), *argv[:2], *model_args)  # whatever memory is free
    assert code == 1 and 'empty.png: no image header can be read, and a file of 8.0 GiB is not read' in err, err
    code, err = run_cli(capsys, '-i', str(tmp_path / 'long.png'), *argv)
    assert code == 1 and 'long.png is a file of 8.0 GiB, more than the 2.0 GiB free to read it into' in err, err
    monkeypatch.undo()
    cv2.imwrite(str(tmp_path / 'small.png'), np.zeros((8, 8, 3), np.uint8))
    code, err = run_cli(capsys, '-i', str(tmp_path / 'small.png'), '-s', '0.01', *argv[:2], *model_args)
    assert code == 1 and '-s 0.01: a 8x8 image would become 0x0 pixels' in err, err


def test_cli_never_replaces_an_existing_output_unless_told(tmp_path, capsys, model_args, monkeypatch):
    """A rerun into the same -o is refused before any model is built, naming the file; --overwrite replaces it.
    An output that appears while the run works (another run into the same -o) is not replaced either."""
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 8, 3), 90, np.uint8))
    argv = ['-i', str(tmp_path / 'a.png'), '-o', str(tmp_path / 'out'), *model_args]
    assert run_cli(capsys, *argv)[0] == 0
    written = (tmp_path / 'out' / 'a_srddgan.png').read_bytes()
    (tmp_path / 'out' / 'a_srddgan.png').write_bytes(b'mine')
    with monkeypatch.context() as patch:
        patch.setattr(infer.TorchBackend, 'build', lambda *args: pytest.fail('a model was built'))
        code, err = run_cli(capsys, *argv)
    assert code == 1 and 'a_srddgan.png exists: choose another -o or --suffix, or give --overwrite' in err, err
    assert (tmp_path / 'out' / 'a_srddgan.png').read_bytes() == b'mine'
    assert run_cli(capsys, *argv, '--overwrite')[0] == 0
    assert (tmp_path / 'out' / 'a_srddgan.png').read_bytes() == written
    real_upscale = infer._upscale

    def another_run_writes_first(job, path, image, seed):
        (tmp_path / 'out2' / 'a_srddgan.png').write_bytes(b'theirs')
        return real_upscale(job, path, image, seed)

    (tmp_path / 'out2').mkdir()
    monkeypatch.setattr(infer, '_upscale', another_run_writes_first)
    code, err = run_cli(capsys, '-i', str(tmp_path / 'a.png'), '-o', str(tmp_path / 'out2'), *model_args)
    assert code == 1 and 'a_srddgan.png exists: not replaced' in err, err
    assert (tmp_path / 'out2' / 'a_srddgan.png').read_bytes() == b'theirs'


def test_cli_ctrl_c_and_link_loops_end_with_a_summary(tmp_path, capsys, model_args, monkeypatch):
    """A link loop in the input folder is one skipped image, not the end of the run; Ctrl-C stops with what was
    written (exit 130), not a traceback."""
    for name in ('a.png', 'b.png', 'c.png'):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), 90, np.uint8))
    os.symlink('loop.png', tmp_path / 'loop.png')
    code, err = run_cli(capsys, '-i', str(tmp_path), '-o', str(tmp_path / 'out'), *model_args)
    assert code == 1 and re.search(r'skipped .*loop\.png: .*Too many levels of symbolic links', err), err
    assert '3 of 4 images written' in err and sorted(os.listdir(tmp_path / 'out')) == [
        'a_srddgan.png', 'b_srddgan.png', 'c_srddgan.png']
    real_process, calls = infer._process, []

    def interrupted_at_the_second(job, outputs, path, stem):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_process(job, outputs, path, stem)

    monkeypatch.setattr(infer, '_process', interrupted_at_the_second)
    os.remove(tmp_path / 'loop.png')
    code, err = run_cli(capsys, '-i', str(tmp_path), '-o', str(tmp_path / 'out2'), *model_args)
    assert code == 130 and 'interrupted: 1 of 3 images written' in err and 'b.png and the rest were not' in err, err
    assert 'Traceback' not in err


def test_cli_warns_of_tiles_without_enough_overlap(tmp_path, capsys, model_args):
    """--tile 1 --tile_pad 0 gave a blocky image 18 dB from the untiled one without a word: a tile_pad under 4 LR
    pixels is a warning naming the option; the default overlap is not."""
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((8, 8, 3), 90, np.uint8))
    argv = ['-i', str(tmp_path / 'a.png'), '-o', str(tmp_path / 'out'), '--overwrite', *model_args]
    code, err = run_cli(capsys, *argv, '--tile', '1', '--tile_pad', '0')
    assert code == 0 and 'warning: --tile_pad 0: tiles that see under 4 LR pixels of their neighbours' in err, err
    code, err = run_cli(capsys, *argv, '--tile', '4')
    assert code == 0 and 'warning' not in err, err


@pytest.mark.slow
def test_a_small_png_of_a_huge_image_is_refused_within_little_memory(tmp_path, model_args):
    """A 20000x20000 PNG (a few hundred KB) is refused from its header with the process's peak memory under 1.5 GB
    (decoded, it took 9.4 GB)."""
    import subprocess
    import sys

    cv2.imwrite(str(tmp_path / 'huge.png'), np.zeros((20000, 20000), np.uint8))
    assert (tmp_path / 'huge.png').stat().st_size < 2**21
    argv = ['-i', str(tmp_path / 'huge.png'), '-o', str(tmp_path / 'out'), '--max_memory', '8', *model_args]
    # VmHWM: this process's own peak (ru_maxrss would carry the forking pytest process's RSS over the exec)
    code = ('import sys; from srddgan_arch.commands.infer import main; '
            f'status = main({argv!r}); '
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM'))); "
            'sys.exit(status)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and 'huge.png (20000x20000) needs about' in result.stderr, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) < 1.5 * 2**20, result.stdout  # VmHWM: KiB


def test_an_output_holding_nan_is_refused():
    """A result holding NaN (an overflow at reduced precision, an input the network cannot take) is an error, not an
    all-black image written with exit code 0."""
    import torch
    from conftest import BicubicNet

    from srddgan_arch.data.image_io import DecodedImage
    from srddgan_arch.inference.upsampler import SRDDGANer, upsample_image

    class NanNet(BicubicNet):
        def forward(self, x):
            return super().forward(x) * torch.nan

    image = DecodedImage(np.full((4, 4, 3), 0.5, np.float32), None, None)
    with pytest.raises(ValueError, match='the output holds NaN or inf'):
        upsample_image(SRDDGANer(NanNet(2), device='cpu'), image)
    assert upsample_image(SRDDGANer(BicubicNet(2), device='cpu'), image).img.shape == (8, 8, 3)


@pytest.mark.skipif(not hasattr(os, 'mkfifo') or not os.path.exists('/dev/zero'), reason='POSIX special files')
def test_cli_skips_what_is_not_a_regular_file(tmp_path, capsys, model_args):
    """A link to /dev/zero, a FIFO and a folder named x.png in an input folder are each one skipped, named entry;
    the image beside them is written; -i naming a FIFO is refused by name, not as missing."""
    from test_image_io import not_regular_entries

    names = not_regular_entries(tmp_path / 'in')
    cv2.imwrite(str(tmp_path / 'in' / 'ok.png'), np.full((8, 8, 3), 90, np.uint8))
    code, err = run_cli(capsys, '-i', str(tmp_path / 'in'), '-o', str(tmp_path / 'out'), *model_args)
    assert code == 1 and os.listdir(tmp_path / 'out') == ['ok_srddgan.png'], err
    for name in names:
        assert f'skipped {tmp_path}/in/{name}: Bad image {tmp_path}/in/{name}: not a regular file' in err, err
    assert '1 of 4 images written' in err and 'Traceback' not in err
    code, err = run_cli(capsys, '-i', str(tmp_path / 'in' / 'fifo.png'), '-o', str(tmp_path / 'out2'), *model_args)
    assert code == 1 and 'fifo.png: not a regular file' in err, err
