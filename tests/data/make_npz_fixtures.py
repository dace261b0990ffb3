# Writes the .npz fixtures read by tests/test_checkpoint.cpp. Run once with Debian's python3-numpy:
#   cd tests/data && python3 make_npz_fixtures.py
# The values are exact binary fractions, so the test can state them.
import numpy as np

w = np.array([[0.5, -1.25, 2.0], [3.0, -0.125, 8.0]], dtype=np.float32)    # C order, float32
b = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3) / 4)     # Fortran order, float64
s = np.float64(-2.5)                                                        # 0-d
be = np.array([1.5, -3.0], dtype='>f8')                                     # big-endian
idx = np.array([1, 2, 3], dtype=np.int64)                                   # a dtype xgrad cannot hold
np.savez_compressed('numpy_compressed.npz', **{'layer.weight': w, 'layer.bias': b, 'scale': s, 'big': be, 'idx': idx})
np.savez('numpy_stored.npz', **{'layer.weight': w, 'scale': s})

# Archives that are not valid checkpoints (the zipfile module alone writes them).
import zipfile
with zipfile.ZipFile('not_npz.zip', 'w') as z:
    z.writestr('readme.txt', 'a zip archive, but no .npy member\n')
hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }"
hdr += b' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + b'\n'  # pad to 64 bytes, as numpy
short = b'\x93NUMPY\x01\x00' + len(hdr).to_bytes(2, 'little') + hdr + b'\x00' * 40  # 40 of 400 data bytes
with zipfile.ZipFile('short_member.npz', 'w') as z:
    z.writestr('w.npy', short)
