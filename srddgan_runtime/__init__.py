"""srddgan's torch-free runtime: SRDDGAN sampled with ONNX Runtime and numpy alone (``OnnxUpsampler``), and the numpy
pieces both backends share (MATLAB bicubic taps, tile blending). Importing it imports neither torch nor BasicSR."""
from srddgan_runtime.upsampler import LRConsistency, OnnxUpsampler, Schedule

__all__ = ['LRConsistency', 'OnnxUpsampler', 'Schedule']
