# prediction cost: linear vs MLP (random weights, same shapes), single thread, scipy sparse @ dense
from common import *
from nn import rust_feats
for n in DATASETS:
    Xtr, ytr, Xte, yte = load(n); A, B = rust_feats(Xtr, Xte); C = len(set(ytr)); D = A.shape[1]
    B = sparse.vstack([B]*4).tocsr()
    W = np.random.randn(D, C).astype(np.float32)
    def t(f):
        best = 1e9
        for _ in range(3):
            t0 = time.time(); f(); best = min(best, time.time() - t0)
        return best
    tl = t(lambda: (B @ W).argmax(1))
    out = [f'{n}: D={D} C={C} nnz/row={B.nnz/B.shape[0]:.0f} linear {B.shape[0]/tl/1e3:.0f}k rows/s']
    for H in [128, 256, 512]:
        U = np.random.randn(D, H).astype(np.float32) * .1; V = np.random.randn(H, C).astype(np.float32)
        tm = t(lambda: (np.maximum(B @ U, 0) @ V + B @ W).argmax(1))
        nnz = B.nnz / B.shape[0]
        out.append(f'MLP{H}+lin x{tm/tl:.1f} time (MAC ratio {(nnz*H+H*C+nnz*C)/(nnz*C):.1f})')
    print(' | '.join(out), flush=True)
