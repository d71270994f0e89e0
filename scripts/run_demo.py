"""Quick start: build the demo data, train the small demo model on the CPU, validate it before and after training.

Example: python scripts/run_demo.py

Steps: builds ``datasets/demo`` from scikit-image's photographs unless it is there, evaluates the untrained generator
(iteration 0), trains ``options/train_SRDDGAN_demo_x4.yml`` with BasicSR's train pipeline (``srddgan_arch/train.py``
in a subprocess), evaluates the trained EMA generator, writes the SR samples of both evaluations under
``results/<name>_iter0`` and ``results/<name>_final`` and ends with one line: PSNR and LR-PSNR at iteration 0 and
at the end.
"""
import argparse
import os
import subprocess
import sys
import time
from os import path as osp

import yaml

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

# the package first: BasicSR compatibility fixes and registration
from srddgan_arch.data.demo import build_demo_dataset  # noqa: E402

DEFAULT_OPT = 'options/train_SRDDGAN_demo_x4.yml'


def yaml_load(path):
    """The option file ``path`` as a dict."""
    with open(path) as f:
        return yaml.safe_load(f)


def evaluate(opt_path, label, checkpoint=None):
    """Validate the demo generator on the demo val set and save its SR samples.

    Args:
        opt_path (str): The demo train option file (its network, diffusion, val and datasets.val sections are used).
        label (str): Name of the evaluation; samples go to ``results/<name>_<label>/visualization``.
        checkpoint (str | None): Generator checkpoint (its ``params_ema`` is loaded). Default: None (the untrained
            generator, initialised with the option file's ``manual_seed`` as training does).

    Returns:
        dict: Metric name -> mean over the val images and samples.
    """
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model
    from basicsr.utils import set_random_seed

    opt = yaml_load(opt_path)
    name = f'{opt["name"]}_{label}'
    results_root = osp.join('results', name)
    opt.update(name=name, is_train=False, dist=False, rank=0, world_size=1, num_gpu=0)
    opt['path'] = dict(pretrain_network_g=checkpoint, param_key_g='params_ema', strict_load_g=True,
                       results_root=results_root, visualization=osp.join(results_root, 'visualization'))
    opt['val']['suffix'] = label
    val_opt = dict(opt['datasets']['val'], phase='val', scale=opt['scale'])
    opt['datasets'] = {'val': val_opt}
    set_random_seed(opt['manual_seed'])
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False, sampler=None)
    model = build_model(opt)
    model.validation(loader, current_iter=0, tb_logger=None, save_img=True)
    return dict(model.metric_results)


def train(opt_path, total_iter=None):
    """Run BasicSR's train pipeline on ``opt_path`` in a subprocess; returns the experiment's latest G checkpoint."""
    command = [sys.executable, osp.join(ROOT, 'srddgan_arch', 'train.py'), '-opt', opt_path]
    if total_iter is not None:
        command += ['--force_yml', f'train:total_iter={total_iter}']
    subprocess.run(command, check=True, cwd=ROOT)
    name = yaml_load(opt_path)['name']
    return osp.join('experiments', name, 'models', 'net_g_latest.pth')


def main(argv=None):
    """Parse ``argv`` (default: the command line), run the demo and return the final metrics line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--opt', default=DEFAULT_OPT, help='demo option file')
    parser.add_argument('--total-iter', type=int, default=None, help='override train.total_iter')
    args = parser.parse_args(argv)
    start = time.time()
    opt_path = osp.abspath(args.opt if osp.isfile(args.opt) else osp.join(ROOT, args.opt))
    os.chdir(ROOT)
    build_demo_dataset('datasets/demo', scale=4)
    before = evaluate(opt_path, 'iter0')
    after = evaluate(opt_path, 'final', checkpoint=train(opt_path, args.total_iter))
    opt = yaml_load(opt_path)
    iters = args.total_iter or opt['train']['total_iter']
    line = (f'SRDDGAN demo: PSNR {before["psnr"]:.2f} -> {after["psnr"]:.2f} dB, '
            f'LR-PSNR {before["lr_psnr"]:.2f} -> {after["lr_psnr"]:.2f} dB (iteration 0 -> {iters}); '
            f'SR samples in results/{opt["name"]}_iter0 and results/{opt["name"]}_final; '
            f'{time.time() - start:.0f} s.')
    print(line, flush=True)
    return line


if __name__ == '__main__':
    main()
