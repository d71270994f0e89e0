"""SRDDGAN inference on image files or folders (``srddgan-infer``): see ``--help`` and docs/inference.md
("Inference on your own images").

    python scripts/inference_srddgan.py -i inputs -o results -opt options/test_SRDDGAN_DIV2K_x4.yml \
        --model_path experiments/pretrained_models/SRDDGAN_x4.pth --tile 64 --num_samples 4
"""
import sys

from srddgan_arch.commands.infer import main

if __name__ == '__main__':
    sys.exit(main())
