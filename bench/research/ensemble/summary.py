# mean/min/max over seeds of MLP512(e12) alone, linear(e20) alone, and prob-average ensembles
from common import *
from nn import softmax
import sys
seeds = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0,1,2,3,4]
TAG = sys.argv[1] if len(sys.argv) > 1 else "mlp512i01"
for n in DATASETS:
    Xtr,ytr,Xte,yte = load(n); labels = sorted(set(ytr))
    for w in [0, 0.25, 0.5, 1.0]:
        accs, pas = [], []
        for s in seeds:
            SA = np.load(f'scores/{TAG}_{n}_s{s}_e12.npy'); SB = np.load(f'scores/lin_{n}_s{s}_e20.npy')
            P = w*softmax(SA) + (1-w)*softmax(SB)
            a, p = report(n, yte, [labels[i] for i in P.argmax(1)]); accs.append(a); pas.append(p)
        line = f'{n} w_mlp={w}: acc ' + ' '.join(f'{a:.2f}' for a in accs) + f' | mean {np.mean(accs):.2f} sd {np.std(accs):.2f} min {min(accs):.2f}'
        if n == 'hwu': line += f' || scen ' + ' '.join(f'{a:.2f}' for a in pas) + f' | mean {np.mean(pas):.2f} min {min(pas):.2f}'
        print(line)
