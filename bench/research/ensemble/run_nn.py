# usage: python run_nn.py '<json config>' [datasets] [seeds]
import os
os.makedirs('scores', exist_ok=True)
import sys, json
from common import *
from nn import *
cfg = json.loads(sys.argv[1]); dsets = sys.argv[2].split(',') if len(sys.argv) > 2 else DATASETS
seeds = [int(s) for s in sys.argv[3].split(',')] if len(sys.argv) > 3 else [0]
feat = cfg.pop('feat', {}); tag = cfg.pop('tag', '')
eval_eps = set(cfg.pop('eval_eps', [cfg.get('epochs', 10)]))
for n in dsets:
    Xtr, ytr, Xte, yte = load(n)
    A, B = rust_feats(Xtr, Xte, **feat)
    labels = sorted(set(ytr)); li = {l: i for i, l in enumerate(labels)}
    y = np.array([li[l] for l in ytr]); C = len(labels)
    kw = dict(cfg)
    if kw.pop('aux_parent', False):
        par = sorted(set(parent(l) for l in labels)); pi = {p: i for i, p in enumerate(par)}
        M = np.zeros((C, len(par)), np.float32)
        for l in labels: M[li[l], pi[parent(l)]] = 1
        kw['aux'] = (np.array([pi[parent(l)] for l in ytr]), M)
    for s in seeds:
        t0 = time.time(); res = {}
        def cb(ep, m):
            if ep in eval_eps:
                S = m.scores(B); pred = [labels[i] for i in S.argmax(1)]
                res[ep] = (report(n, yte, pred), time.time() - t0)
                np.save(f'scores/{tag}_{n}_s{s}_e{ep}.npy', S)
        m = train(A, y, C, seed=s, callback=cb, **kw)
        for ep, ((acc, pa), tt) in sorted(res.items()):
            print(f'{tag} {n} seed={s} ep={ep} acc={acc:.2f}' + (f' parent={pa:.2f}' if pa else '') + f' t={tt:.0f}s', flush=True)
