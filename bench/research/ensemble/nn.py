import re, numpy as np, time
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
TOK = re.compile(r'[^\W_]+')
def toks(s): return TOK.findall(s.lower())
def word_an(ng):
    def f(s):
        t = toks(s); out = list(t)
        for n in range(2, ng+1):
            out += [' '.join(t[i:i+n]) for i in range(len(t)-n+1)]
        return out
    return f
def char_an(lo, hi):
    def f(s):
        out = []
        for t in toks(s):
            w = '<' + t + '>'
            for n in range(lo, hi+1):
                out += [w[i:i+n] for i in range(len(w)-n+1)]
        return out
    return f
def rust_feats(Xtr, Xte, word_ng=2, clo=2, chi=4, sub=True, scale=True):
    """Rust-like features: word 1..ng grams + char lo..hi grams of <tok>, sublinear tf * smoothed idf, each group l2, /sqrt2"""
    blocks_tr, blocks_te = [], []
    for an in [word_an(word_ng), char_an(clo, chi)]:
        v = TfidfVectorizer(analyzer=an, sublinear_tf=sub, binary=not sub, dtype=np.float32)
        blocks_tr.append(v.fit_transform(Xtr)); blocks_te.append(v.transform(Xte))
    s = 1/np.sqrt(2) if scale else 1.0
    return (sparse.hstack(blocks_tr).tocsr()*s).astype(np.float32), (sparse.hstack(blocks_te).tocsr()*s).astype(np.float32)

def batch_dense(Xb):
    cols, inv = np.unique(Xb.indices, return_inverse=True)
    Xs = sparse.csr_matrix((Xb.data, inv, Xb.indptr), shape=(Xb.shape[0], len(cols))).toarray()
    return cols, Xs

def softmax(Z):
    Z = Z - Z.max(1, keepdims=True); E = np.exp(Z); return E / E.sum(1, keepdims=True)

class Model:
    """hidden=0: linear. hidden>0: MLP (relu, dropout) optionally with linear skip (wide)."""
    def __init__(self, D, C, hidden=0, wide=True, seed=0, init_std=None):
        rng = np.random.default_rng(seed); self.rng = rng
        self.D, self.C, self.H, self.wide = D, C, hidden, wide or hidden == 0
        self.P = {}
        if self.wide:
            self.P['W'] = np.zeros((D, C), np.float32); self.P['b'] = np.zeros(C, np.float32)
        if hidden:
            s = init_std if init_std else 1.0
            self.P['U'] = (rng.standard_normal((D, hidden)) * s).astype(np.float32)
            self.P['c'] = np.zeros(hidden, np.float32)
            self.P['V'] = (rng.standard_normal((hidden, C)) * np.sqrt(2.0/hidden)).astype(np.float32) * 0.1
            self.P['d'] = np.zeros(C, np.float32)
        self.G = {k: np.full_like(v, 1e-8) for k, v in self.P.items()}
        self.sparse_keys = {'W', 'U'}
    def scores(self, X, bs=4096):
        out = []
        for i in range(0, X.shape[0], bs):
            Xb = X[i:i+bs]; z = np.zeros((Xb.shape[0], self.C), np.float32)
            if self.wide: z += Xb @ self.P['W'] + self.P['b']
            if self.H:
                h = Xb @ self.P['U'] + self.P['c']; h = np.maximum(h, 0) if getattr(self, 'act', 'relu') == 'relu' else h; z += h @ self.P['V'] + self.P['d']
            out.append(z)
        return np.vstack(out)

def train(X, y, C, epochs=10, bs=32, lr=0.2, l2=3e-6, hidden=0, wide=True, drop=0.5, in_drop=0.0,
          loss='ce', hinge_w=1.0, act='relu', ls=0.0, seed=0, lr_h=None, init_std=None, callback=None, aux=None, aux_w=0.0):
    """loss: 'ce' softmax cross-entropy, 'sqh' one-vs-rest squared hinge, 'both' = ce + hinge_w*sqh.
    aux: (aux_y, n_aux_classes, M) with M label->aux matrix: adds aux CE on logits aggregated by logsumexp"""
    N, D = X.shape
    m = Model(D, C, hidden, wide, seed, init_std); m.act = act
    rng = np.random.default_rng(seed + 1000)
    lrs = {k: (lr if k in ('W', 'b') else (lr_h or lr)) for k in m.P}
    for ep in range(epochs):
        perm = rng.permutation(N)
        for i in range(0, N, bs):
            idx = perm[i:i+bs]; Xb = X[idx]; yb = y[idx]; B = len(idx)
            cols, Xs = batch_dense(Xb)
            if in_drop > 0:
                Xs = Xs * (rng.random(Xs.shape) >= in_drop) / (1 - in_drop)
            z = np.zeros((B, C), np.float32)
            if m.wide:
                Wc = m.P['W'][cols]; z += Xs @ Wc + m.P['b']
            if m.H:
                Uc = m.P['U'][cols]; a = Xs @ Uc + m.P['c']; h = np.maximum(a, 0) if act == 'relu' else a
                if drop > 0:
                    mask = (rng.random(h.shape) >= drop).astype(np.float32) / (1 - drop); hd = h * mask
                else: hd = h
                z += hd @ m.P['V'] + m.P['d']
            Y = np.zeros((B, C), np.float32); Y[np.arange(B), yb] = 1
            dz = np.zeros_like(z)
            if loss in ('ce', 'both'):
                T = Y * (1 - ls) + ls / C
                dz += (softmax(z) - T)
            if loss in ('sqh', 'both'):
                s = 2 * Y - 1; marg = 1 - s * z
                dz += hinge_w * (-2 * s * np.maximum(marg, 0))
            if aux is not None and aux_w > 0:
                ay, M = aux  # M: C x A 0/1
                p = softmax(z); pa = p @ M  # parent prob
                # d(-log pa_y)/dz_c = p_c - p_c*M[c,y]/pa_y
                py = pa[np.arange(B), ay[idx]]
                dz += aux_w * (p - p * M[:, ay[idx]].T / py[:, None])
            dz /= B
            g = {}
            if m.wide:
                g['W'] = Xs.T @ dz + l2 * Wc; g['b'] = dz.sum(0)
            if m.H:
                g['V'] = hd.T @ dz; g['d'] = dz.sum(0)
                dh = (dz @ m.P['V'].T)
                if drop > 0: dh *= mask
                if act == 'relu': dh *= (a > 0)
                g['U'] = Xs.T @ dh + l2 * Uc; g['c'] = dh.sum(0)
            for k, gk in g.items():
                if k in m.sparse_keys:
                    Gk = m.G[k][cols] + gk * gk; m.G[k][cols] = Gk
                    m.P[k][cols] -= lrs[k] * gk / np.sqrt(Gk)
                else:
                    m.G[k] += gk * gk; m.P[k] -= lrs[k] * gk / np.sqrt(m.G[k])
        if callback: callback(ep + 1, m)
    return m
