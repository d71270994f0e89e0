"""Print the parameter counts (millions) of the SRDDGAN networks for the paper's three configurations (Table 1).

Usage: ``python scripts/count_params.py``. One line per configuration:
``<config> generator=<M> encoder=<M> discriminator=<M> g+e=<M>``; "generator" excludes the LR encoder.
The paper reports 39.14M parameters for the face model (generator + encoder).
"""
import srddgan_arch  # noqa: F401  (BasicSR compatibility fixes before any basicsr import)
from srddgan_arch.archs.srddgan_discriminator_arch import SRDDGANDiscriminator
from srddgan_arch.archs.srddgan_unet_arch import SRDDGANUNet

_UNET_128 = dict(image_size=128, num_feat=64, ch_mult=(1, 1, 2, 2, 4, 4), num_res_blocks=2, attn_resolutions=(16, ),
                 z_dim=256, num_mapping_layers=4, lr_concat=True, lr_encoder=True, encoder_num_feat=32,
                 encoder_num_block=8, encoder_num_grow_ch=16)

# network_g / network_d keyword arguments of the paper configurations (same keys as the YAML options)
PAPER_CONFIGS = {
    'div2k_x4': dict(network_g=dict(_UNET_128, scale=4), network_d=dict(image_size=128, num_feat=64, t_emb_dim=128)),
    'faces_x8': dict(network_g=dict(_UNET_128, scale=8), network_d=dict(image_size=128, num_feat=64, t_emb_dim=128)),
    'cifar10_x2': dict(
        network_g=dict(_UNET_128, scale=2, image_size=32, num_feat=128, ch_mult=(1, 2, 2, 2)),
        network_d=dict(image_size=32, num_feat=64, t_emb_dim=128)),
}


def count(module):
    """Number of parameters of ``module`` in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def main():
    for name, config in PAPER_CONFIGS.items():
        net_g = SRDDGANUNet(**config['network_g'])
        net_d = SRDDGANDiscriminator(**config['network_d'])
        total, encoder = count(net_g), count(net_g.encoder) if net_g.encoder is not None else 0.0
        print(f'{name} generator={total - encoder:.2f} encoder={encoder:.2f} discriminator={count(net_d):.2f} '
              f'g+e={total:.2f}')


if __name__ == '__main__':
    main()
