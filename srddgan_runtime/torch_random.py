"""``torch.randn`` of a seeded CPU ``torch.Generator``, reproduced with numpy: the same float32 numbers from the same
seed, so that the ONNX Runtime backend draws z, y_T and the posterior noise exactly as the torch backend does on the
CPU, without torch.

PyTorch's CPU generator is a 32-bit Mersenne Twister (MT19937) seeded with the seed's low 32 bits (MATLAB's and
numpy's ``init_genrand``). ``torch.randn`` of a contiguous float32 tensor with at least 16 entries fills it with
uniform floats (24 random bits of one draw each), then turns each block of 16 into normals by the Box-Muller
transform (u1 = 1 - data[j], u2 = data[j + 8] for j < 8: cos into data[j], sin into data[j + 8]); when the size is not
a multiple of 16 the last 16 entries are drawn and transformed again. A smaller tensor is filled one double-precision
normal at a time (53 random bits of two draws per uniform, Box-Muller with its second value kept for the next call).
Results agree with torch to float32 rounding of the transcendental functions (about 1e-7); CUDA generators (Philox)
are not reproduced.
"""
import numpy as np

_MT_STATE_SIZE = 624
_VECTOR_BLOCK = 16


def _mt19937_state(seed):
    """The MT19937 key of ``init_genrand(seed & 0xffffffff)``, as torch's CPU generator seeds itself."""
    key = np.empty(_MT_STATE_SIZE, dtype=np.uint64)
    key[0] = seed & 0xffffffff
    for index in range(1, _MT_STATE_SIZE):
        previous = int(key[index - 1])
        key[index] = (1812433253 * (previous ^ (previous >> 30)) + index) & 0xffffffff
    return key.astype(np.uint32)


class TorchCPUGenerator:
    """The normal stream of ``torch.Generator('cpu').manual_seed(seed)`` in numpy.

    Args:
        seed (int): The seed (torch uses its low 32 bits).
    """

    def __init__(self, seed):
        self._bits = np.random.MT19937()
        self._bits.state = {'bit_generator': 'MT19937', 'state': {'key': _mt19937_state(seed), 'pos': _MT_STATE_SIZE}}
        self._cached_normal = None

    def _uniform_float32(self, count):
        """Uniform floats in [0, 1) from the low 24 bits of one draw each (torch's uniform_real_distribution<float>)."""
        return (self._bits.random_raw(count) & 0xffffff).astype(np.float32) * np.float32(2**-24)

    def _uniform_float64(self, count):
        """Uniform doubles in [0, 1) from 53 bits of two draws each (torch's random64)."""
        raw = self._bits.random_raw(2 * count).reshape(count, 2)
        return ((raw[:, 0] << 32 | raw[:, 1]) & ((1 << 53) - 1)).astype(np.float64) * 2.0**-53

    def _scalar_normals(self, count):
        """Normals drawn one at a time in double precision, each Box-Muller pair's sine kept for the next draw."""
        out = np.empty(count, dtype=np.float64)
        for index in range(count):
            if self._cached_normal is not None:
                out[index], self._cached_normal = self._cached_normal, None
                continue
            u1, u2 = self._uniform_float64(2)
            radius = np.sqrt(-2.0 * np.log1p(-u2))
            theta = 2.0 * np.pi * u1
            self._cached_normal = radius * np.sin(theta)
            out[index] = radius * np.cos(theta)
        return out.astype(np.float32)

    @staticmethod
    def _box_muller_16(data):
        """torch's normal_fill_16 on the blocks of 16 of ``data`` (n, 16), in place."""
        u1 = np.float32(1) - data[:, :8]
        u2 = data[:, 8:]
        radius = np.sqrt(np.float32(-2) * np.log(u1))
        theta = (2.0 * np.pi * u2.astype(np.float64)).astype(np.float32)
        data[:, :8], data[:, 8:] = radius * np.cos(theta), radius * np.sin(theta)

    def randn(self, *shape):
        """Standard normal float32 numbers, as ``torch.randn(*shape, generator=g)`` with this generator's state.

        Args:
            shape (int): The sizes.

        Returns:
            ndarray: float32 array of that shape.
        """
        size = int(np.prod(shape, dtype=np.int64))
        if size < _VECTOR_BLOCK:
            return self._scalar_normals(size).reshape(shape)
        data = self._uniform_float32(size)
        whole = size - size % _VECTOR_BLOCK
        blocks = data[:whole].reshape(-1, _VECTOR_BLOCK)
        self._box_muller_16(blocks)
        data[:whole] = blocks.reshape(-1)
        if size % _VECTOR_BLOCK:
            tail = self._uniform_float32(_VECTOR_BLOCK).reshape(1, _VECTOR_BLOCK)
            self._box_muller_16(tail)
            data[size - _VECTOR_BLOCK:] = tail[0]
        return data.reshape(shape)
