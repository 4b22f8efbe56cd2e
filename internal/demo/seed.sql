-- The seed examples' own rows (SEED_EXAMPLES.md sections 1 and 3-8), as
-- printed there, in the schema "seed". Their ids clash with the generated
-- warehouse (the seed's dim_product row 1 is a Laptop with no price), so
-- they live apart; after
--
--     SET search_path = seed, public;
--
-- every statement of SEED_EXAMPLES.md runs verbatim and finds these tables
-- first. Loaded in the same transaction as the rest of the demo.

CREATE SCHEMA IF NOT EXISTS seed;

-- Section 1 (star schema) and section 3 (TF-IDF): one product table, the
-- section-1 columns plus section 3's description.
CREATE TABLE seed.dim_product  (product_id int PRIMARY KEY, product_name text, category text,
                                description text);
CREATE TABLE seed.dim_customer (customer_id int PRIMARY KEY, customer_name text, region text);
CREATE TABLE seed.fact_sales   (sale_id int PRIMARY KEY, product_id int REFERENCES seed.dim_product,
                                customer_id int REFERENCES seed.dim_customer, sales_amount numeric,
                                sale_date date);
INSERT INTO seed.dim_product VALUES
    (1, 'Laptop', 'Electronics', 'High-performance laptop'),
    (2, 'Smartphone', 'Electronics', 'Latest smartphone model'),
    (3, 'Tablet', 'Electronics', 'Affordable tablet'),
    (4, 'Monitor', 'Electronics', 'High-resolution monitor');
INSERT INTO seed.dim_customer VALUES (1, 'Alice', 'North America');
INSERT INTO seed.fact_sales   VALUES (1, 1, 1, 1200, '2023-09-01');

-- Section 4 (user-based collaborative filtering).
CREATE TABLE seed.ratings (user_id int, product_id int, rating int, PRIMARY KEY (user_id, product_id));
INSERT INTO seed.ratings VALUES
    (1, 101, 5), (1, 102, 4), (1, 103, 3), (2, 101, 4), (2, 104, 5),
    (3, 102, 2), (3, 103, 3), (3, 104, 4);

-- Section 5 (k-means customer segments).
CREATE TABLE seed.user_data (user_id int PRIMARY KEY, purchase_frequency int, avg_spend numeric,
                             last_purchase_days_ago int);
INSERT INTO seed.user_data VALUES
    (1, 5, 500, 10), (2, 2, 100, 40), (3, 10, 1200, 5), (4, 1, 50, 90), (5, 4, 300, 20);

-- Section 6 (Holt's linear trend): month-end dates of 2023.
CREATE TABLE seed.monthly_sales (month date PRIMARY KEY, sales numeric);
INSERT INTO seed.monthly_sales VALUES
    ('2023-01-31', 200), ('2023-02-28', 220), ('2023-03-31', 240), ('2023-04-30', 260),
    ('2023-05-31', 250), ('2023-06-30', 300), ('2023-07-31', 320), ('2023-08-31', 340),
    ('2023-09-30', 360), ('2023-10-31', 380), ('2023-11-30', 400), ('2023-12-31', 420);

-- Section 7 (NMF): the non-zero entries of R as (row, col, value) triples,
-- 0-based like the article's matrix, so user 0 is the article's user 0.
-- nmf puts rows and columns in key order, R's own, so scikit-learn's random
-- init comes out whatever order the rows are read in.
CREATE TABLE seed.nmf_ratings (row int, col int, value float8, PRIMARY KEY (row, col));
INSERT INTO seed.nmf_ratings VALUES
    (0, 0, 5), (0, 1, 3), (0, 3, 1),
    (1, 0, 4), (1, 3, 1),
    (2, 0, 1), (2, 1, 1), (2, 3, 5),
    (3, 0, 1), (3, 3, 4),
    (4, 1, 1), (4, 2, 5), (4, 3, 4);

-- Section 8 (online SGD regression): training samples in the order
-- partial_fit sees them, and the row to score.
CREATE TABLE seed.train (id int PRIMARY KEY, x1 float8, x2 float8, y float8);
INSERT INTO seed.train VALUES (1, 10, 11, 4), (2, 11, 12, 5), (3, 12, 13, 6);
CREATE TABLE seed.to_score (id int PRIMARY KEY, x1 float8, x2 float8);
INSERT INTO seed.to_score VALUES (1, 15, 16);
