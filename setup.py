"""Installs the srddgan BasicSR plugin. Exact tested versions: constraints.txt (see README)."""
from setuptools import find_packages, setup


def read_version():
    """``__version__`` of srddgan_arch/version.py, read without importing the package (it imports torch)."""
    namespace = {}
    with open('srddgan_arch/version.py', encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='srddgan',
    version=read_version(),
    description='SRDDGAN: single-image super-resolution with denoising diffusion GANs, as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['srddgan_arch', 'srddgan_arch.*', 'srddgan_runtime']),
    install_requires=[
        'basicsr==1.4.2',
        # torch >= 2.6 loads with weights_only=True by default: BasicSR's load_network, lpips and facexlib call
        # torch.load without it, and a checkpoint must not run code
        'torch>=2.6',
        'torchvision>=0.21',
        'numpy>=1.24',
        'opencv-python>=4.8',
        'scikit-image>=0.21',
        'scipy>=1.10',
        'lmdb>=1.4',
        'pyyaml>=6.0',
        'tb-nightly',
        'facexlib>=0.3',
        'lpips>=0.1.4',
        'torch-fidelity>=0.3',
        'tqdm>=4.60',
        'pillow>=9.0',
    ],
    extras_require={
        'test': ['pytest>=7.4', 'ruff>=0.5'],
        # srddgan-export --onnx and srddgan-infer --backend onnxruntime (deployment alone: onnxruntime and numpy)
        'onnx': ['onnxruntime>=1.17', 'onnx>=1.16', 'onnxscript>=0.2'],
        # srddgan-app; gradio caps pillow below our pinned 13: install with -c constraints-app.txt (README)
        'app': ['gradio>=5.0'],
    },
    entry_points={
        'console_scripts': [
            'srddgan-train=srddgan_arch.entry:train',
            'srddgan-test=srddgan_arch.entry:test',
            'srddgan-infer=srddgan_arch.inference:main',
            'srddgan-export=srddgan_arch.export:main',
            'srddgan-app=srddgan_arch.app:main',
        ],
    },
)
