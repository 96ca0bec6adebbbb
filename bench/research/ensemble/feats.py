from common import *
from sklearn.svm import LinearSVC
variants = [
  ('base w12 c25', dict()),
  ('c15', dict(char_rng=(1,5))),
  ('c26', dict(char_rng=(2,6))),
  ('c14', dict(char_rng=(1,4))),
  ('w13', dict(word_rng=(1,3))),
  ('binary', dict(sub=False, binary=True)),
]
for n in DATASETS:
    Xtr, ytr, Xte, yte = load(n)
    for vn, kw in variants:
        A, B = peer_feats(Xtr, Xte, **kw)
        for C in [0.5, 1.0]:
            t=time.time(); m=LinearSVC(C=C).fit(A, ytr)
            print(n, vn, 'C',C, A.shape[1], 'nnz/row %.0f'%(A.nnz/A.shape[0]), report(n, yte, m.predict(B)), '%.1fs'%(time.time()-t), flush=True)
