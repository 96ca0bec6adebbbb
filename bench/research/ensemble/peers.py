from common import *
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
for n in DATASETS:
    Xtr, ytr, Xte, yte = load(n)
    t=time.time(); A, B = peer_feats(Xtr, Xte); print(n, A.shape, 'feat %.1fs'%(time.time()-t), flush=True)
    for nm, m in [('LR C=20', LogisticRegression(C=20, max_iter=1000)), ('SVC C=1', LinearSVC(C=1))]:
        t=time.time(); m.fit(A, ytr); tt=time.time()-t
        print(n, nm, report(n, yte, m.predict(B)), 'train %.1fs'%tt, flush=True)
