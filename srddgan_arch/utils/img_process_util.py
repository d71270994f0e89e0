"""Image processing on batch tensors, shared by srddgan's degradations and BasicSR's (see ``compat``)."""
import torch


def filter2D(img, kernel):
    """``basicsr.utils.img_process_util.filter2D`` with ``reshape`` instead of ``view``.

    After DiffJPEG the tensor is channels-last; ``view`` then raises "view size is not compatible".

    Args:
        img (Tensor): Images, shape (b, c, h, w).
        kernel (Tensor): Kernels, shape (1, k, k) (shared) or (b, k, k), k odd.

    Returns:
        Tensor: Filtered images, shape (b, c, h, w).
    """
    k = kernel.size(-1)
    b, c, h, w = img.size()
    if k % 2 != 1:
        raise ValueError(f'filter2D needs an odd kernel size, got {k}.')
    img = torch.nn.functional.pad(img, (k // 2, k // 2, k // 2, k // 2), mode='reflect')
    ph, pw = img.size()[-2:]
    if kernel.size(0) == 1:
        out = torch.nn.functional.conv2d(img.reshape(b * c, 1, ph, pw), kernel.reshape(1, 1, k, k))
    else:
        kernel = kernel.reshape(b, 1, k, k).repeat(1, c, 1, 1).reshape(b * c, 1, k, k)
        out = torch.nn.functional.conv2d(img.reshape(1, b * c, ph, pw), kernel, groups=b * c)
    return out.reshape(b, c, h, w)
