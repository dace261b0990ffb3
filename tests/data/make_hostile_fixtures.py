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
        for k, v in arrays.items():
            z.writestr(k + '.npy', v)


checkpoint('charlm_hidden12000.npz', 12000)
checkpoint('charlm_nan.npz', 2, nan_bias=True)
