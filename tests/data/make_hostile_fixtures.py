# Writes the hostile-load fixtures of tests/hostile_load.cmake (and seeds of tests/fuzz), with Python's
# standard library alone (no numpy):  cd tests/data && python3 make_hostile_fixtures.py
#   charlm_hidden12000.npz  a tiny `xgrad generate` checkpoint (lstm, hidden 2, embed 2, vocabulary "ab")
#                           whose meta.hidden says 12000: refused before a model is built
#   charlm_nan.npz          the same checkpoint, consistent, with NaN in head.bias[1]
import struct
import zipfile


def npy(shape, values, code='f'):
    descr = '<f4' if code == 'f' else '<f8'
    shp = '(' + ''.join('%d, ' % d for d in shape).rstrip(' ') + ')' if len(shape) != 1 else '(%d,)' % shape[0]
    if not shape:
        shp = '()'
    hdr = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)).encode()
    hdr += b' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + b'\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr + struct.pack('<%d%s' % (len(values), code), *values)


def checkpoint(path, hidden_meta, nan_bias=False):
    H, E, V = 2, 2, 2
    n = lambda *s: [0.125 * ((i % 7) - 3) for i in range(eval('*'.join(map(str, s)) or '1'))]
    arrays = {
        'embed.weight': npy((V, E), n(V, E)),
        'lstm.weight_ih_l0': npy((4 * H, E), n(4 * H, E)),
        'lstm.weight_hh_l0': npy((4 * H, H), n(4 * H, H)),
        'lstm.bias_ih_l0': npy((4 * H,), n(4 * H)),
        'lstm.bias_hh_l0': npy((4 * H,), n(4 * H)),
        'head.weight': npy((V, H), n(V, H)),
        'head.bias': npy((V,), [0.5, float('nan') if nan_bias else -0.5]),
        'meta.charlm': npy((), [1.0], 'd'),
        'meta.vocab': npy((V,), [97.0, 98.0], 'd'),
        'meta.cell': npy((), [0.0], 'd'),
        'meta.hidden': npy((), [float(hidden_meta)], 'd'),
        'meta.embed': npy((), [float(E)], 'd'),
    }
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for k, v in arrays.items():  # fixed timestamps: the same bytes on every run
            z.writestr(zipfile.ZipInfo(k + '.npy', date_time=(1980, 1, 1, 0, 0, 0)), v, zipfile.ZIP_DEFLATED)


checkpoint('charlm_hidden12000.npz', 12000)
checkpoint('charlm_nan.npz', 2, nan_bias=True)

# Hostile archives for ../fuzz/regressions (seeds of the fuzzer, replayed by tests/test_hostile_load.cpp).
import os
import zlib

reg = os.path.join('..', 'fuzz', 'regressions')


def raw_zip(path, members):
    """members: (name, stored bytes, declared uncompressed size, method, crc); written byte by byte so the
    sizes and names can be ones zipfile would refuse."""
    out, cd = b'', b''
    for name, data, usize, method, crc in members:
        common = struct.pack('<HHHHHIIIHH', 20, 0, method, 0, 0x21, crc, len(data), usize, len(name), 0)
        cd += b'PK\x01\x02' + struct.pack('<H', 20) + common + struct.pack('<HHHII', 0, 0, 0, 0, len(out)) + name
        out += b'PK\x03\x04' + common + name + data
    out += cd + b'PK\x05\x06' + struct.pack('<HHHHIIH', 0, 0, len(members), len(members), len(cd), len(out), 0)
    with open(path, 'wb') as f:
        f.write(out)


def deflated(b):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


one = npy((1,), [1.0])
bomb = one + b'\0' * (64 << 20)  # 64 MiB beyond the 4 bytes its header declares
raw_zip(os.path.join(reg, 'bomb_lying_size.npz'), [(b'w.npy', deflated(bomb), len(one), 8, zlib.crc32(bomb))])
raw_zip(os.path.join(reg, 'bomb_true_size.npz'), [(b'w.npy', deflated(bomb), len(bomb), 8, zlib.crc32(bomb))])
raw_zip(os.path.join(reg, 'duplicate_member.npz'), [(b'a.npy', one, len(one), 0, zlib.crc32(one))] * 2)
v2 = b'\x93NUMPY\x02\x00' + struct.pack('<I', 0x80000000) + one[10:]
raw_zip(os.path.join(reg, 'header_length_2GiB.npz'), [(b'a.npy', v2, len(v2), 0, zlib.crc32(v2))])
