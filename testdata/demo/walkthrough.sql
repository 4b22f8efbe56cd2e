# The README walkthrough: copy-pasteable SQL on the demo warehouse
# (`flywheel serve --demo`, or `flywheel demo load --scale 1`), each statement
# also a test. Connect with psql through Flywheel and paste any statement.
#
# Format (in the style of cockroachdb/datadriven; parsed by
# internal/demo.ParseWalkthrough, run by Case.Run):
#
#   - Lines starting with "#" are file comments, like this one.
#   - A block is: one or more "-- description" lines, a directive line, the
#     SQL, a line "----", then expectation lines up to a blank line.
#   - Directives: "query" runs the statement and checks its (last) result;
#     "exec" runs it and only needs it to succeed (expectation "ok" or none).
#     The argument "needs=flywheel" marks statements that call model
#     functions: they run only through the Flywheel proxy, the others run on
#     plain PostgreSQL too (internal/demo's tests run them there).
#   - The blocks run in order on one session: "exec SET ..." carries over.
#   - Values are PostgreSQL's text output (the simple query protocol).
#
# Expectations:
#   columns: a, b, c        the result's column names, in order
#   rows: N                 the row count; also N..M, N.. or ..M
#   row K: v1 | v2 | ...    row K (1-based) has these values
#   contains: v1 | v2 | ... some row has these values
#   range COL: LO..HI       every non-NULL value of COL is in [LO, HI]
#                           (either bound may be left out)
#   distinct COL: N         COL has N distinct values (or N..M)
#   ordered: A <= B <= C    in every row, A <= B <= C numerically
# A value is compared as text, except: * matches anything, NULL matches SQL
# NULL, and X±T matches any number within T of X.
#
# Known values hold for scale 1 with the default seed (0); shapes hold at
# any scale where a row count is not given.

######## The star schema: plain SQL, passed through untouched ########

-- How big is the warehouse? (Scale 1: 1,000 customers, 200 products.)
query
SELECT (SELECT count(*) FROM dim_customer) AS customers,
       (SELECT count(*) FROM dim_product)  AS products,
       (SELECT count(*) FROM fact_sales)   AS sales,
       (SELECT count(*) FROM fact_ratings) AS ratings,
       (SELECT count(*) FROM events)       AS events;
----
columns: customers, products, sales, ratings, events
row 1: 1000 | 200 | 46734 | 9262 | 193450

-- Revenue by region and month in 2024: fact_sales joined to two dimensions.
query
SELECT c.region, d.month_start AS month, sum(s.sales_amount) AS revenue, count(*) AS sales
FROM fact_sales s
JOIN dim_customer c USING (customer_id)
JOIN dim_date d ON d.date_key = s.sale_date
WHERE d.year = 2024
GROUP BY c.region, d.month_start
ORDER BY c.region, month;
----
columns: region, month, revenue, sales
rows: 60
row 1: Asia Pacific | 2024-01-01 | 31323.81 | 266
row 12: Asia Pacific | 2024-12-01 | 57478.57 | 422
distinct region: 5

-- Top three products by revenue in each category.
query
SELECT category, rank, product_id, product_name, revenue
FROM (SELECT p.category, p.product_id, p.product_name, sum(s.sales_amount) AS revenue,
             rank() OVER (PARTITION BY p.category ORDER BY sum(s.sales_amount) DESC) AS rank
      FROM fact_sales s
      JOIN dim_product p USING (product_id)
      GROUP BY p.product_id) ranked
WHERE rank <= 3
ORDER BY category, rank;
----
columns: category, rank, product_id, product_name, revenue
rows: 24
row 1: Beauty | 1 | 46 | Orbit Lipstick B-145 | 21643.99
row 10: Electronics | 1 | 105 | Vantage Router E-204 | 285831.50
distinct category: 8

-- Revenue grows year on year (more customers every year).
query
SELECT d.year, sum(s.sales_amount) AS revenue, count(*) AS sales
FROM fact_sales s
JOIN dim_date d ON d.date_key = s.sale_date
GROUP BY d.year
ORDER BY d.year;
----
columns: year, revenue, sales
rows: 4
row 1: 2021 | 591248.22 | 5343
row 4: 2024 | 2190571.00 | 17098

-- The segment inputs by the generator's own segments (the ground truth
-- that k-means should recover below).
query
SELECT segment, count(*) AS customers,
       round(avg(purchase_frequency), 2) AS purchase_frequency,
       round(avg(avg_spend), 2) AS avg_spend,
       round(avg(last_purchase_days_ago)) AS last_purchase_days_ago
FROM dim_customer
GROUP BY segment
ORDER BY purchase_frequency DESC;
----
columns: segment, customers, purchase_frequency, avg_spend, last_purchase_days_ago
rows: 4
row 1: champion | 101 | 5.32 | 188.40 | 4
row 3: lapsed | 210 | 0.95 | 94.63 | 495

-- The clickstream's funnel: every sale has a purchase event.
query
SELECT event_type, count(*) AS events, count(DISTINCT customer_id) AS customers
FROM events
GROUP BY event_type
ORDER BY events DESC;
----
columns: event_type, events, customers
rows: 4
row 1: view | 74678 | 1000
contains: purchase | 46734 | 1000

-- Average rating by category.
query
SELECT p.category, round(avg(r.rating), 2) AS avg_rating, count(*) AS ratings
FROM fact_ratings r
JOIN dim_product p USING (product_id)
GROUP BY p.category
ORDER BY p.category;
----
columns: category, avg_rating, ratings
rows: 8
row 1: Beauty | 3.60 | 1072
range avg_rating: 1..5

-- Monthly revenue per category, month-end dated: the input of the forecast
-- below (48 months x 8 categories).
query
SELECT p.category, d.month_end AS month, sum(s.sales_amount) AS revenue
FROM fact_sales s
JOIN dim_product p USING (product_id)
JOIN dim_date d ON d.date_key = s.sale_date
GROUP BY p.category, d.month_end
ORDER BY p.category, d.month_end;
----
columns: category, month, revenue
rows: 384
row 1: Beauty | 2021-01-31 | 1332.19
row 48: Beauty | 2024-12-31 | *

######## Model functions: these need Flywheel ########

-- Customer segments: k-means on the segment inputs (standardised, 4
-- clusters), profiled by joining back to dim_customer. Each cluster's most
-- common generating segment is a different one; clusters are numbered in
-- key order (cluster 0 is customer 1's, a lapsed one; cluster 1 that of the
-- first customer not in it, customer 3, occasional), whatever order the rows
-- come in.
query needs=flywheel
SELECT k.cluster, count(*) AS customers,
       round(avg(c.purchase_frequency), 2) AS purchase_frequency,
       round(avg(c.avg_spend), 2) AS avg_spend,
       round(avg(c.last_purchase_days_ago)) AS last_purchase_days_ago,
       mode() WITHIN GROUP (ORDER BY c.segment) AS segment
FROM kmeans((SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago
             FROM dim_customer), 4, scale => 'standard') k
JOIN dim_customer c USING (customer_id)
GROUP BY k.cluster
ORDER BY k.cluster;
----
columns: cluster, customers, purchase_frequency, avg_spend, last_purchase_days_ago, segment
rows: 4
row 1: 0 | * | * | * | * | lapsed
row 2: 1 | * | * | * | * | occasional
row 3: 2 | * | * | * | * | loyal
row 4: 3 | * | * | * | * | champion
range customers: 80..450

-- How well do the clusters match the generating segments? Purity: the share
-- of customers in their cluster's majority segment (scikit-learn: 0.958,
-- Flywheel: 0.959).
query needs=flywheel
WITH k AS (
    SELECT * FROM kmeans((SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago
                          FROM dim_customer), 4, scale => 'standard')
), t AS (
    SELECT k.cluster, c.segment, count(*) AS n
    FROM k JOIN dim_customer c USING (customer_id)
    GROUP BY k.cluster, c.segment
)
SELECT round(sum(top)::numeric / sum(total), 3) AS purity
FROM (SELECT max(n) AS top, sum(n) AS total FROM t GROUP BY cluster) per_cluster;
----
columns: purity
rows: 1
range purity: 0.9..1

-- A 6-month revenue forecast per category: Holt-Winters with additive trend
-- and a multiplicative yearly season, with 95% prediction intervals.
-- Month-end dates continue as month ends.
query needs=flywheel
SELECT *
FROM holt_forecast((SELECT p.category, d.month_end AS month, sum(s.sales_amount) AS revenue
                    FROM fact_sales s
                    JOIN dim_product p USING (product_id)
                    JOIN dim_date d ON d.date_key = s.sale_date
                    GROUP BY p.category, d.month_end
                    ORDER BY p.category, d.month_end),
                   6, trend => 'add', seasonal => 'mul', seasonal_periods => 12, level => 0.95)
ORDER BY category, month;
----
columns: category, month, forecast, lower, upper
rows: 48
row 1: Beauty | 2025-01-31 | * | * | *
row 6: Beauty | 2025-06-30 | * | * | *
contains: Toys & Games | 2025-02-28 | * | * | *
distinct category: 8
ordered: lower <= forecast <= upper
range forecast: 0..

-- Customers with similar taste also liked: user-based collaborative
-- filtering for customer 10 (who rates "travel" products highly).
query needs=flywheel
SELECT r.rank, r.item AS product_id, p.product_name, p.category, round(r.score::numeric, 3) AS score
FROM recommend(10, 5, ratings => (SELECT customer_id, product_id, rating FROM fact_ratings),
               method => 'user_cf', neighbors => 20) r
JOIN dim_product p ON p.product_id = r.item
ORDER BY r.rank;
----
columns: rank, product_id, product_name, category, score
rows: 5
row 1: 1 | 34 | * | * | 1.8±0.001
row 2: 2 | 39 | * | * | 1.6±0.001
range rank: 1..5

-- Recommendations never repeat what the customer already rated.
query needs=flywheel
SELECT count(*) AS already_rated
FROM recommend(10, 5, ratings => (SELECT customer_id, product_id, rating FROM fact_ratings)) r
JOIN fact_ratings f ON f.customer_id = 10 AND f.product_id = r.item;
----
columns: already_rated
row 1: 0

-- Three recommendations for each of several customers at once (a LATERAL
-- call: Flywheel runs the function once for the batch).
query needs=flywheel
SELECT c.customer_id, c.customer_name, r.rank, r.item AS product_id
FROM dim_customer c
CROSS JOIN LATERAL recommend(c.customer_id, 3,
    ratings => (SELECT customer_id, product_id, rating FROM fact_ratings)) r
WHERE c.customer_id <= 5
ORDER BY c.customer_id, r.rank;
----
columns: customer_id, customer_name, rank, product_id
rows: 15
distinct customer_id: 5
range rank: 1..3

-- Similar products: TF-IDF over the descriptions, the 5 nearest to product
-- 17 (an Electronics keyboard). Ranks 2 and 3 tie; ties rank by key.
query needs=flywheel
SELECT s.rank, s.similar_item AS product_id, p.product_name, p.category,
       round(s.similarity::numeric, 3) AS similarity
FROM similar_items((SELECT product_id, description FROM dim_product), 17, n => 5) s
JOIN dim_product p ON p.product_id = s.similar_item
ORDER BY s.rank;
----
columns: rank, product_id, product_name, category, similarity
rows: 5
row 1: 1 | 1 | * | Electronics | 0.769±0.001
row 2: 2 | 73 | * | Electronics | 0.681±0.001
row 3: 3 | 121 | * | Electronics | 0.681±0.001
distinct category: 1

-- Predicted ratings from a 5-factor NMF of the ratings matrix: customer
-- 10's highest predictions among the products they have not rated.
query needs=flywheel
SELECT n.product_id, p.product_name, round(n.predicted::numeric, 2) AS predicted
FROM nmf((SELECT customer_id, product_id, rating FROM fact_ratings), 5, only_missing => true) n
JOIN dim_product p USING (product_id)
WHERE n.customer_id = 10
ORDER BY n.predicted DESC, n.product_id
LIMIT 5;
----
columns: product_id, product_name, predicted
rows: 5
row 1: 39 | * | 2.45±0.02
range predicted: 0..

-- An online regression: SGD learns sales_amount (in hundreds) from quantity,
-- price and their product, one sale at a time in date order up to
-- November 2024, then predicts December's sales.
query needs=flywheel
SELECT r.sale_id, s.quantity, p.price, s.sales_amount,
       round((r.prediction * 100)::numeric, 2) AS predicted_amount
FROM sgd_regress((SELECT s.quantity, p.price / 100, s.quantity * p.price / 100, s.sales_amount / 100
                  FROM fact_sales s JOIN dim_product p USING (product_id)
                  WHERE s.sale_date < '2024-12-01'
                  ORDER BY s.sale_date, s.sale_id),
                 (SELECT s.sale_id, s.quantity, p.price / 100, s.quantity * p.price / 100
                  FROM fact_sales s JOIN dim_product p USING (product_id)
                  WHERE s.sale_date >= '2024-12-01')) r
JOIN fact_sales s USING (sale_id)
JOIN dim_product p USING (product_id)
ORDER BY r.sale_id
LIMIT 10;
----
columns: sale_id, quantity, price, sales_amount, predicted_amount
rows: 10

-- How good are December's predictions? (The reference implementation of
-- the same per-sample rule: correlation 0.996.)
query needs=flywheel
SELECT round(corr(r.prediction, s.sales_amount)::numeric, 3) AS correlation, count(*) AS predicted
FROM sgd_regress((SELECT s.quantity, p.price / 100, s.quantity * p.price / 100, s.sales_amount / 100
                  FROM fact_sales s JOIN dim_product p USING (product_id)
                  WHERE s.sale_date < '2024-12-01'
                  ORDER BY s.sale_date, s.sale_id),
                 (SELECT s.sale_id, s.quantity, p.price / 100, s.quantity * p.price / 100
                  FROM fact_sales s JOIN dim_product p USING (product_id)
                  WHERE s.sale_date >= '2024-12-01')) r
JOIN fact_sales s USING (sale_id);
----
columns: correlation, predicted
row 1: * | 2050
range correlation: 0.95..1

######## Train once, serve many: models stored in the database ########

-- Train a recommender once: flywheel.train fits recommend's user-based
-- collaborative filtering on the ratings and stores it as version 1 of
-- model 'recs' in schema flywheel of this database.
query needs=flywheel
SELECT model, version, kind, rows, deployed
FROM flywheel.train('recs', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings),
                    method => 'user_cf');
----
columns: model, version, kind, rows, deployed
row 1: recs | * | recommend | * | t

-- Serve from it: the same recommendations as the one-shot call above, from
-- the stored model instead of a fit over every rating (in well under a
-- millisecond once the model is in Flywheel's cache).
query needs=flywheel
SELECT r.rank, r.item AS product_id, p.product_name, round(r.score::numeric, 3) AS score
FROM recommend(10, 5, model => 'recs') r
JOIN dim_product p ON p.product_id = r.item
ORDER BY r.rank;
----
columns: rank, product_id, product_name, score
rows: 5
row 1: 1 | * | * | *

-- Three recommendations for every customer, from the model.
query needs=flywheel
SELECT count(*) AS recommendations, count(DISTINCT c.customer_id) AS customers
FROM dim_customer c
CROSS JOIN LATERAL recommend(c.customer_id, 3, model => 'recs') r;
----
columns: recommendations, customers
range customers: 1..

-- A challenger: an NMF recommender trained on 80% of the ratings and
-- measured on the 20% held out (precision, recall and NDCG of the top 10).
-- promote => 'never' keeps it beside the deployed version, not in its place.
query needs=flywheel
SELECT model, version, deployed, rows,
       round((metrics->>'ndcg_at_10')::numeric, 3) AS ndcg_at_10,
       round((metrics->>'rmse')::numeric, 3) AS rmse
FROM flywheel.train('recs', 'recommend', (SELECT customer_id, product_id, rating FROM fact_ratings),
                    method => 'nmf', k => 5, holdout => 0.2, promote => 'never');
----
columns: model, version, deployed, rows, ndcg_at_10, rmse
row 1: recs | * | f | * | * | *
range ndcg_at_10: 0..1

-- Every version, with its status and metrics: plain SQL on a view.
query needs=flywheel
SELECT model, version, status, rows, metrics->>'method' AS method_metric, trained_at IS NOT NULL AS trained
FROM flywheel.model_versions
WHERE model = 'recs'
ORDER BY version;
----
columns: model, version, status, rows, method_metric, trained
rows: 2..
contains: recs | * | deployed | * | NULL | t
contains: recs | * | challenger | * | NULL | t

-- Customer segments as a model: k-means fitted once...
query needs=flywheel
SELECT model, version, round((metrics->>'inertia')::numeric) AS inertia
FROM flywheel.train('segments', 'kmeans', (SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago
                                            FROM dim_customer), k => 4, scale => 'standard');
----
columns: model, version, inertia
row 1: segments | * | *

-- ...whose stored centres and scaling assign any rows without clustering
-- again: every customer exactly as the one-shot kmeans call above, and a
-- new customer who buys often, spends little and bought yesterday.
query needs=flywheel
SELECT (SELECT count(*)
        FROM kmeans((SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer),
                    model => 'segments') m
        JOIN kmeans((SELECT customer_id, purchase_frequency, avg_spend, last_purchase_days_ago FROM dim_customer),
                    4, scale => 'standard') o USING (customer_id)
        WHERE m.cluster = o.cluster) AS same_cluster,
       (SELECT cluster
        FROM kmeans((SELECT 0 AS customer_id, 9 AS purchase_frequency, 20.0 AS avg_spend, 1 AS last_purchase_days_ago),
                    model => 'segments')) AS new_customer;
----
columns: same_cluster, new_customer
row 1: 1000 | *
range new_customer: 0..3

-- The stored models.
query needs=flywheel
SELECT name, kind, deployed_version, versions FROM flywheel.models ORDER BY name;
----
columns: name, kind, deployed_version, versions
rows: 2
contains: recs | recommend | * | *
contains: segments | kmeans | * | 1

######## The seed examples, verbatim (SEED_EXAMPLES.md sections 1, 3-8) ########
# Their rows live in schema "seed"; with it first on the search_path every
# statement of SEED_EXAMPLES.md runs as printed there.

-- Put the seed examples' tables first.
exec
SET search_path = seed, public;
----
ok

-- Section 1: the star schema's one sale.
query
SELECT * FROM fact_sales;
----
columns: sale_id, product_id, customer_id, sales_amount, sale_date
rows: 1
row 1: 1 | 1 | 1 | 1200 | 2023-09-01

-- Section 3: bought the Smartphone, you may also like (all scores tie at 0;
-- ties rank by key).
query needs=flywheel
SELECT p.product_name FROM similar_items((SELECT product_id, description FROM dim_product), 2, n => 2) s
JOIN dim_product p ON p.product_id = s.similar_item ORDER BY s.rank;
----
columns: product_name
rows: 2
row 1: Laptop
row 2: Tablet

-- Section 3: the one non-zero similarity, Laptop and Monitor.
query needs=flywheel
SELECT similar_item, similarity FROM similar_items((SELECT product_id, description FROM dim_product), 1, n => 1);
----
columns: similar_item, similarity
rows: 1
row 1: 4 | 0.2371049775288231±1e-12

-- Section 4: user-based collaborative filtering for user 1.
query needs=flywheel
SELECT item, score FROM recommend(1, 2, method => 'user_cf', neighbors => 2,
    ratings => (SELECT user_id, product_id, rating FROM ratings));
----
columns: item, score
rows: 1
row 1: 104 | 4.5±1e-9

-- Section 4: user 2 gets 102 and 103 (3.0 each).
query needs=flywheel
SELECT item, score FROM recommend(2, 2, method => 'user_cf', neighbors => 2,
    ratings => (SELECT user_id, product_id, rating FROM ratings)) ORDER BY rank;
----
columns: item, score
rows: 2
row 1: 102 | 3±1e-9
row 2: 103 | 3±1e-9

-- Section 5: k-means, k = 3, unscaled: {1,5} {2,4} {3}, numbered in key
-- order (the cluster of user 1 is 0, of user 2 is 1).
query needs=flywheel
SELECT * FROM kmeans((SELECT user_id, purchase_frequency, avg_spend, last_purchase_days_ago
                      FROM user_data), 3);
----
columns: user_id, cluster, distance
rows: 5
contains: 1 | 0 | *
contains: 2 | 1 | *
contains: 3 | 2 | 0±1e-9
contains: 4 | 1 | *
contains: 5 | 0 | *

-- Section 5: with standard scaling: {1,2,5} {3} {4}.
query needs=flywheel
SELECT user_id, cluster FROM kmeans((SELECT user_id, purchase_frequency, avg_spend, last_purchase_days_ago
                      FROM user_data), 3, scale => 'standard') ORDER BY user_id;
----
columns: user_id, cluster
rows: 5
row 1: 1 | 0
row 2: 2 | 0
row 3: 3 | 1
row 4: 4 | 2
row 5: 5 | 0

-- Section 6: Holt's linear trend, 3 months ahead (within 1e-4 of the
-- article's numbers).
query needs=flywheel
SELECT * FROM holt_forecast((SELECT month, sales FROM monthly_sales), 3);
----
columns: month, forecast, lower, upper
rows: 3
row 1: 2024-01-31 | 439.545451±1e-4 | * | *
row 2: 2024-02-29 | 459.860136±1e-4 | * | *
row 3: 2024-03-31 | 480.174820±1e-4 | * | *
ordered: lower <= forecast <= upper

-- Section 7: NMF, k = 2, random init with seed 0: scikit-learn's matrix.
-- Rows and columns are in key order, R's own (as pandas' pivot_table puts
-- them), whatever order the rows come in, so no ORDER BY is needed.
query needs=flywheel
SELECT * FROM nmf((SELECT row, col, value FROM nmf_ratings), 2, init => 'random', seed => 0);
----
columns: row, col, predicted
rows: 20
contains: 0 | 0 | 5.25583751±1e-6
contains: 0 | 1 | 1.99314304±1e-6
contains: 0 | 2 | 0±1e-6
contains: 2 | 2 | 1.94957474±1e-6
contains: 4 | 3 | 5.21892451±1e-6

-- Section 8: SGD regression, one sample at a time.
query needs=flywheel
SELECT * FROM sgd_regress((SELECT x1, x2, y FROM train ORDER BY id),
                          (SELECT id, x1, x2 FROM to_score));
----
columns: id, prediction
rows: 1
row 1: 1 | 19.29666937250204±1e-9

-- Back to the warehouse.
exec
RESET search_path;
----
ok
