"""Checks that the demo warehouse has the structure its models should find.

Reads the generated tables as CSV (written without a database by
    FLYWHEEL_DEMO_DUMP=/tmp/demo go test ./internal/demo -run TestDump
with FLYWHEEL_DEMO_SCALE=N for another scale) and reports, with
scikit-learn/statsmodels as the reference implementations:

1. k-means on dim_customer's segment inputs (standard scaling, k=4) against
   the generating segment: adjusted Rand index and purity;
2. TF-IDF nearest neighbours of product descriptions: share of the 5 nearest
   in the product's own category;
3. ratings: precision@10 of held-out good ratings (>= 4) for NMF (k=5),
   user-based CF (cosine, 20 neighbours) and a popularity baseline;
4. monthly revenue per category: 6-month-ahead MAPE of Holt-Winters
   (additive trend, multiplicative yearly season) against the naive
   last-value forecast and the seasonal naive forecast.

Run with Debian's /usr/bin/python3:  /usr/bin/python3 testdata/demo/check_structure.py /tmp/demo
"""
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import StandardScaler
from statsmodels.tsa.holtwinters import ExponentialSmoothing

warnings.filterwarnings("ignore")
d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/demo"
cust = pd.read_csv(f"{d}/dim_customer.csv")
prod = pd.read_csv(f"{d}/dim_product.csv")
sales = pd.read_csv(f"{d}/fact_sales.csv", parse_dates=["sale_date"])
ratings = pd.read_csv(f"{d}/fact_ratings.csv")

print(f"rows: customers {len(cust)}, products {len(prod)}, sales {len(sales)}, ratings {len(ratings)}")
print(cust.groupby("segment")[["purchase_frequency", "avg_spend", "last_purchase_days_ago"]].describe().T.round(1).to_string())

# 1. k-means
X = cust[["purchase_frequency", "avg_spend", "last_purchase_days_ago"]].to_numpy(float)
for name, Z in [("standard", StandardScaler().fit_transform(X)), ("log-spend standard", StandardScaler().fit_transform(np.c_[X[:, 0], np.log(X[:, 1]), X[:, 2]]))]:
    lab = KMeans(4, n_init=10, random_state=0).fit_predict(Z)
    ct = pd.crosstab(lab, cust["segment"])
    purity = ct.max(axis=1).sum() / len(cust)
    print(f"\nkmeans k=4 {name}: ARI {adjusted_rand_score(cust['segment'], lab):.3f}, purity {purity:.3f}")
    print(ct.to_string())

# 2. TF-IDF neighbours
tf = TfidfVectorizer(stop_words="english").fit_transform(prod["description"])
S = cosine_similarity(tf)
np.fill_diagonal(S, -1)
top = np.argsort(-S, axis=1, kind="stable")[:, :5]
cat = prod["category"].to_numpy()
same = (cat[top] == cat[:, None]).mean()
print(f"\nTF-IDF: share of 5 nearest neighbours in the same category {same:.3f}")

# 3. ratings: hold out 20% per user
rng = np.random.default_rng(0)
ratings["test"] = rng.random(len(ratings)) < 0.2
users = np.sort(ratings.customer_id.unique())
items = np.sort(prod.product_id.unique())
ui = {u: i for i, u in enumerate(users)}
ii = {p: i for i, p in enumerate(items)}
R = np.zeros((len(users), len(items)))
train = ratings[~ratings.test]
R[train.customer_id.map(ui), train.product_id.map(ii)] = train.rating
test = ratings[ratings.test & (ratings.rating >= 4)]
truth = test.groupby("customer_id").product_id.apply(set)


def precision(scores):
    scores = scores.copy()
    scores[R > 0] = -np.inf
    hits = n = 0
    for u, want in truth.items():
        rec = items[np.argsort(-scores[ui[u]], kind="stable")[:10]]
        hits += len(want & set(rec))
        n += 10
    return hits / n


pop = np.tile((R > 0).sum(axis=0).astype(float), (len(users), 1))
mean = np.tile(np.where((R > 0).sum(0) > 0, R.sum(0) / np.maximum((R > 0).sum(0), 1), 0), (len(users), 1))
nmf = NMF(5, init="nndsvda", max_iter=400, random_state=0)
P = nmf.fit_transform(R) @ nmf.components_
C = cosine_similarity(R)
np.fill_diagonal(C, -1)
nb = np.argsort(-C, axis=1, kind="stable")[:, :20]
cf = R[nb].mean(axis=1)
print("\nprecision@10 of held-out ratings >= 4:")
for name, sc in [("popularity (count)", pop), ("popularity (mean rating)", mean), ("NMF k=5", P), ("user CF 20", cf)]:
    print(f"  {name:26s} {precision(sc):.4f}")

# 4. Holt-Winters on monthly category revenue
s = sales.merge(prod[["product_id", "category"]], on="product_id")
s["month"] = s.sale_date + pd.offsets.MonthEnd(0)
monthly = s.groupby(["category", "month"]).sales_amount.sum()
h = 6
print(f"\n{h}-month-ahead MAPE on the last {h} months (train on the rest):")
tot = {"holt-winters": [], "naive": [], "seasonal naive": []}
for c, y in monthly.groupby(level=0):
    y = y.droplevel(0).asfreq("M")
    tr, te = y[:-h], y[-h:]
    hw = ExponentialSmoothing(tr, trend="add", seasonal="mul", seasonal_periods=12).fit().forecast(h)
    f = {"holt-winters": hw.to_numpy(), "naive": np.repeat(tr.iloc[-1], h), "seasonal naive": tr.iloc[-12:-12 + h].to_numpy()}
    line = []
    for k, v in f.items():
        e = np.mean(np.abs(v - te.to_numpy()) / te.to_numpy())
        tot[k].append(e)
        line.append(f"{k} {e:.3f}")
    print(f"  {c:18s} " + ", ".join(line))
print("  mean               " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in tot.items()))
