"""SRDDGANModel from train options alone, on the CPU, as at iteration 0: for the scripts that measure one training
iteration (``estimate_gpu_hours.py``: FLOPs, ``loss_scales.py``: the terms of Eq. 22)."""
from copy import deepcopy


def training_batch_size(opt):
    """The batch of one training iteration: ``train.total_batch``, else ``datasets.train.batch_size_per_gpu`` (the
    batch of one process), else 1."""
    per_process = ((opt.get('datasets') or {}).get('train') or {}).get('batch_size_per_gpu', 1)
    return opt['train'].get('total_batch') or per_process


def build_standalone_model(opt, pretrained_vgg=False, vgg_path=None):
    """SRDDGANModel of train options on the CPU, without validation, experiment folders, pretrained or resumed
    networks; the data sets are not built (the caller feeds the batches).

    Args:
        opt (dict): Train options as read from the YAML file (left unchanged).
        pretrained_vgg (bool): The content/style loss loads the VGG's ImageNet weights (``vgg_path``, else as
            ``ContentStyleLoss`` finds them); False: random weights (torchvision's initialisation). Default: False.
        vgg_path (str | None): VGG weight file, instead of ``content_style_opt.pretrained_path``. Default: None.

    Returns:
        SRDDGANModel: The model, its networks at initialisation.

    Raises:
        FileNotFoundError: ``pretrained_vgg`` and the VGG weights are neither found nor downloadable.
    """
    from basicsr.models import build_model

    opt = deepcopy(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, auto_resume=False, val=None, datasets={})
    opt['path'] = {'pretrain_network_g': None, 'resume_state': None}
    loss_opt = opt['train'].get('content_style_opt')
    if loss_opt:
        loss_opt['pretrained'] = pretrained_vgg
        if vgg_path is not None or not pretrained_vgg:
            loss_opt['pretrained_path'] = vgg_path
    return build_model(opt)
