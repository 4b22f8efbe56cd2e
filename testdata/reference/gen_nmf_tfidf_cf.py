#!/usr/bin/python3
"""Reference outputs for functions/nmf.go, tfidf.go and cf.go.

    /usr/bin/python3 testdata/reference/gen_nmf_tfidf_cf.py

Needs Debian's python3-sklearn (scikit-learn 1.2.1, numpy 1.24). Writes, next
to this file:
  stopwords_english.json  scikit-learn's ENGLISH_STOP_WORDS, sorted
  nmf.json                random sparse matrices (as triples) and NMF's
                          reconstruction error / n_iter per init, plus the
                          seed matrix's W.H per init
  tfidf.json              ~500 generated short descriptions, the vocabulary,
                          idf and every document's top-10 neighbours
  cf.json                 random ratings and the seed's dense user-CF
                          recommendations for every user
The Go tests (TestNMFReference, TestTfidfReference, TestUserCFReference,
TestEnglishStopWords) read these files; no Python is needed to run them.

Data are drawn from numpy's legacy RandomState, which functions.RandomState
reproduces bit for bit; bench_nmf_tfidf_cf.py reuses ratings() and corpus()
for the benchmarks.
"""
import json
import os
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")


# ---------------------------------------------------------------- generators
# Only random_sample() doubles, products and int() truncation: the Go side
# (ratingsData / corpusData in functions/*_test.go) repeats them exactly.


def ratings(n_users, n_items, n_ratings, seed):
    """Distinct (user, item, rating) triples; items skewed towards low ids
    (product of two uniforms), ratings 1..5. Users and items are dense ids."""
    rng = np.random.RandomState(seed)
    seen = set()
    users, items, vals = [], [], []
    while len(users) < n_ratings:
        u = int(n_users * rng.random_sample())
        i = int(n_items * (rng.random_sample() * rng.random_sample()))
        r = 1 + int(5 * rng.random_sample())
        if (u, i) in seen:
            continue
        seen.add((u, i))
        users.append(u)
        items.append(i)
        vals.append(r)
    return users, items, vals


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su",
             "dor", "fen", "gal", "hix", "jun", "bre", "cla", "tro", "wen", "yst"]
STOPS = ["the", "and", "with", "for", "of", "a", "in", "very", "new", "is"]
EXTRAS = ["4K", "128GB", "USB-C", "café", "Crème", "naïve", "ÜBER", "ΣΟΦΙΑΣ",
          "x", "Wi-Fi", "e-mail", "über_cool", "日本", "½"]


def word(j):
    return SYLLABLES[j % 20] + SYLLABLES[(j // 20) % 20] + SYLLABLES[(j // 400) % 20]


def corpus(n_docs, n_words, seed):
    """Short product-like descriptions: 4-11 words, Zipf-ish word choice,
    some stop words, capitals, hyphens, punctuation and non-ASCII words."""
    rng = np.random.RandomState(seed)
    docs = []
    for _ in range(n_docs):
        length = 4 + int(8 * rng.random_sample())
        parts = []
        for _ in range(length):
            r = rng.random_sample()
            if r < 0.2:
                w = STOPS[int(10 * rng.random_sample())]
            elif r < 0.25:
                w = EXTRAS[int(len(EXTRAS) * rng.random_sample())]
            else:
                w = word(int(n_words * (rng.random_sample() * rng.random_sample())))
                if rng.random_sample() < 0.1:
                    w = w.capitalize()
            parts.append(w)
        sep = [" ", " ", " ", "-", ", "]
        doc = parts[0]
        for w in parts[1:]:
            doc += sep[int(5 * rng.random_sample())] + w
        docs.append(doc)
    return docs


# ---------------------------------------------------------------- NMF


def nmf_reference():
    out = {"matrices": []}
    shapes = [(100, 80, 0.1, 11), (80, 100, 0.1, 12), (100, 80, 0.3, 13), (30, 20, 0.3, 14)]
    for n, m, density, seed in shapes:
        rng = np.random.RandomState(seed)
        rows, cols, vals = [], [], []
        for i in range(n):
            for j in range(m):
                if rng.random_sample() < density:
                    rows.append(i)
                    cols.append(j)
                    vals.append(float(1 + int(5 * rng.random_sample())))
        X = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))
        fits = {}
        for init in ["nndsvd", "nndsvda", "nndsvdar", "random"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = NMF(n_components=5, init=init, random_state=0, max_iter=200)
                model.fit_transform(X)
            fits[init] = {"err": model.reconstruction_err_, "n_iter": int(model.n_iter_)}
        out["matrices"].append({"n": n, "m": m, "k": 5, "rows": rows, "cols": cols,
                                "vals": vals, "fits": fits})
    R = np.array([[5, 3, 0, 1], [4, 0, 0, 1], [1, 1, 0, 5], [1, 0, 0, 4], [0, 1, 5, 4]], dtype=float)
    out["seed"] = {}
    for init in ["nndsvd", "nndsvda", "nndsvdar", "random"]:
        model = NMF(n_components=2, init=init, random_state=0)
        W = model.fit_transform(R)
        out["seed"][init] = {"wh": (W @ model.components_).tolist(),
                             "err": model.reconstruction_err_, "n_iter": int(model.n_iter_)}
    write("nmf.json", out)


# ---------------------------------------------------------------- TF-IDF


def top_n(sims, i, n):
    s = sims[i].copy()
    order = [j for j in np.argsort(-s, kind="stable") if j != i][:n]
    return [[int(j), float(s[j])] for j in order]


def tfidf_reference():
    docs = corpus(480, 300, 5)
    # Ties and zero vectors on purpose: repeats, stop-word-only, empty.
    docs += [docs[0], docs[1], docs[0], "the and of a", "", "x y z", "Café CAFÉ café", "ΣΟΦΙΑΣ σοφιας",
             "USB-C usb c", "naïve NAÏVE", "Über über", "4k 4K", "128gb", "e-mail email", "the", "wi fi",
             "new new new", "½ ½", "日本 日本語", "über_cool uber cool"]
    out = {}
    for sub in [False, True]:
        v = TfidfVectorizer(stop_words="english", sublinear_tf=sub)
        X = v.fit_transform(docs)
        sims = (X @ X.T).toarray()
        out["sublinear" if sub else "linear"] = {
            "vocabulary": v.get_feature_names_out().tolist(),
            "idf": v.idf_.tolist(),
            "top10": [top_n(sims, i, 10) for i in range(len(docs))],
        }
    out["docs"] = docs
    write("tfidf.json", out)


# ---------------------------------------------------------------- user CF


def user_cf(R, rated, u, n, neighbors):
    """SEED_EXAMPLES.md section 4 on the dense matrix R (0 = not rated)."""
    sims = cosine_similarity(R)[u]
    others = [v for v in np.argsort(-sims, kind="stable") if v != u][:neighbors]
    mean = R[others].mean(axis=0)
    cand = [i for i in np.argsort(-mean, kind="stable") if not rated[u, i]][:n]
    return [[int(i), float(mean[i])] for i in cand]


def cf_reference():
    users, items, vals = ratings(60, 50, 400, 21)
    R = np.zeros((60, 50))
    rated = np.zeros((60, 50), dtype=bool)
    for u, i, r in zip(users, items, vals):
        R[u, i] = r
        rated[u, i] = True
    # A user with no ratings at all (index 60 never appears) is the
    # adapter's business; here every user in range has some.
    recs = {}
    for nb in [1, 2, 5, 20, 100]:
        recs[str(nb)] = [user_cf(R, rated, u, 10, nb) for u in range(60)]
    write("cf.json", {"users": users, "items": items, "vals": vals, "n_users": 60,
                      "n_items": 50, "n": 10, "recs": recs})


if __name__ == "__main__":
    write("stopwords_english.json", sorted(ENGLISH_STOP_WORDS))
    nmf_reference()
    tfidf_reference()
    cf_reference()
