import sys
from common import *
from nn import softmax
# usage: ens.py tagA_eX tagB_eY seed weights...
def lab(n):
    Xtr,ytr,Xte,yte=load(n); return sorted(set(ytr)), yte
a, b = sys.argv[1], sys.argv[2]; s = sys.argv[3]
for n in DATASETS:
    labels, yte = lab(n)
    ta, ea = a.rsplit('_',1); tb, eb = b.rsplit('_',1)
    try:
        SA = np.load(f'scores/{ta}_{n}_s{s}_{ea}.npy'); SB = np.load(f'scores/{tb}_{n}_s{s}_{eb}.npy')
    except FileNotFoundError: continue
    out=[]
    for w in [0, 0.25, 0.5, 0.75, 1]:
        P = w*softmax(SA) + (1-w)*softmax(SB)
        acc, pa = report(n, yte, [labels[i] for i in P.argmax(1)])
        out.append(f'w={w}: {acc:.2f}' + (f'/{pa:.2f}' if pa else ''))
    print(n, a, b, ' | '.join(out))
