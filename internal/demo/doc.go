// Package demo builds Flywheel's demo warehouse: a retail star schema with
// generated data that has structure the model functions can find, plus the
// seed examples' own tables. `flywheel demo load --scale N [--replace]` and
// `flywheel serve --demo` call [Load]; [Loaded] and [Status] say what is
// there; the README walkthrough is testdata/demo/walkthrough.sql, whose
// blocks [ParseWalkthrough] reads and [Case.Run] checks.
//
// # Tables
//
// In schema public (schema.sql, embedded):
//
//	dim_date      one row per day 2020-01-01 .. 2025-12-31 (year, quarter,
//	              month, day names, weekend flag, month_start, month_end)
//	dim_customer  customer_id, customer_name, region, signup_date, segment,
//	              purchase_frequency, avg_spend, last_purchase_days_ago
//	dim_product   product_id, product_name, category, description, price
//	fact_sales    sale_id, product_id, customer_id, quantity, sales_amount,
//	              sale_date (2021-01-01 .. 2024-12-31)
//	fact_ratings  customer_id, product_id, rating 1..5, rated_at
//	events        event_id, customer_id, event_type (click, view, cart,
//	              purchase), product_id, event_time
//	flywheel_demo_meta  one row: scale, seed, generator version, rows
//
// with primary keys, foreign keys from the facts to every dimension, and
// indexes on the facts' customer, product and date columns, built after the
// rows are in. Scale N has 1,000 N customers, 200 N products, about
// 50,000 N sales (46,734 at scale 1 with the default seed), about 18,000 N
// ratings (9,262 at scale 1, where customers run out of distinct products
// to rate) and 4.1 events per sale: about 275,000 N rows in all.
//
// In schema seed (seed.sql, embedded), the rows of SEED_EXAMPLES.md
// sections 1 and 3-8 exactly as printed there: dim_product (the four
// TF-IDF products, with descriptions), dim_customer, fact_sales, ratings,
// user_data, monthly_sales, nmf_ratings (R's non-zero entries as row, col,
// value) and train/to_score. Their ids clash with the generated tables, so
// they have a schema of their own; after `SET search_path = seed, public`
// every statement in SEED_EXAMPLES.md runs verbatim.
//
// # Loading
//
// Load is one transaction: it creates the tables, streams each generated
// table into PostgreSQL with binary COPY (pgx CopyFrom, rows generated
// lazily: only the current customer's rows exist in memory), builds keys and
// indexes, runs ANALYZE, and writes the flywheel_demo_meta row last. A
// cancelled context, an error or a lost connection rolls all of it back, so
// no table ever looks complete when it is not. A second Load with the same
// scale and seed is a no-op; relations with the demo's names that are not
// that demo (another scale, or the user's own tables) make Load refuse with
// a [ConflictError] naming them, unless Options.Replace, which drops them
// with CASCADE. Concurrent Loads into one database serialise on an
// advisory lock.
//
// # The generating model
//
// Everything is drawn from PCG streams (math/rand/v2) seeded from (seed,
// entity kind, id), so each customer's and product's rows can be regenerated
// independently and in any order: the same scale and seed give the same rows
// (on the same architecture: amd64 is the reference for the walkthrough's
// known values). The model's version is recorded in flywheel_demo_meta.
//
// Products. Product j (id j+1) has category j mod 8 and taste factor
// (j div 8) mod 5, so each (category, factor) cell holds 5 N products and a
// product of a given cell is found by arithmetic. The 8 categories
// (Electronics, Books, Home & Kitchen, Sports & Outdoors, Toys & Games,
// Beauty, Garden, Clothing) each have a base price, a share of demand, a
// yearly growth rate, twelve monthly seasonal factors (Toys peak in
// December at 2.8 times their mean, Garden in May, Sports in January and
// summer, and so on) and a vocabulary of nouns, features and uses. The 5
// factors (premium, budget, eco, smart, travel) each have a price
// multiplier and style adjectives. price = base x factor multiplier x
// lognormal(0, 0.5), rounded to x.99; quality ~ U(0.2, 1). The description
// is "<factor adjective> <noun> with <feature> and <feature>, <use>.", so
// products of a category share most of their words and TF-IDF puts a
// product's nearest neighbours in its own category (scikit-learn: 99.9% of
// the 5 nearest at scale 1).
//
// Customers. Each customer is drawn into one of four segments:
//
//	segment     share  purchases/month  extra units  price preference   discounted
//	champion     12%        5.3            1.0       dearer of two        15%
//	loyal        28%        2.55           0.4       either               25%
//	occasional   40%        0.51           0.1       cheaper of two       55%
//	lapsed       20%        1.65           0.3       either               30%
//
// with a per-customer log-normal(0, 0.2) rate multiplier. Sign-ups run from
// 2020-01-01 to 2024-06-30 with a density growing linearly in time (the
// business grows); lapsed customers stop buying 240 to 720 days before the
// snapshot date 2024-12-31 and signed up at least 120 days before that. A
// customer buys from max(sign-up, 2021-01-01) to the churn date or the
// snapshot: Poisson(rate x months) purchases, at least one. Each customer
// also has a taste: weight 0.63 on a main factor, 0.28 on a second, 0.03 on
// the others, and category preferences: the categories' shares times
// log-normal(0, 0.7) factors.
//
// Sales. A purchase picks a category by the customer's preferences, a
// factor by taste, a product of that cell with popular (low) positions
// favoured (position = cell size x U^1.5), and, for a price-sensitive
// segment, the dearer or cheaper of two such candidates. Its day is drawn
// within the customer's active window from the category's demand over
// time: seasonal factor x (1 + growth)^years x 1.3 at weekends. Quantity
// is 1 + Poisson(extra units); a discounted sale takes 5, 10, 20 or 30% off;
// sales_amount = quantity x price x (1 - discount). Monthly revenue per
// category therefore has a trend (growth and the growing customer base) and
// a yearly season: a Holt-Winters forecast (additive trend, multiplicative
// season) of the last 6 months has a mean absolute percentage error of
// 12% against 36% for the naive last-value forecast (statsmodels, scale 1).
//
// Segment inputs. dim_customer's purchase_frequency (purchases per month
// since the first possible purchase, at least three months), avg_spend
// (mean sales_amount) and last_purchase_days_ago (to 2024-12-31) are
// measured on the customer's generated sales, the same rows fact_sales
// gets. k-means with k = 4 on the standardised inputs recovers the segments
// (scikit-learn: adjusted Rand index 0.89, purity 0.96 at scale 1).
//
// Ratings. Each distinct product a customer bought is rated with a
// segment-dependent probability (45%, 35%, 25%, 30%) a few days after the
// first purchase: rating = round(1 + 4 (0.65 taste + 0.35 quality +
// N(0, 0.12))) clamped to 1..5, where taste is 1 for the customer's main
// factor, 0.42 ((0.28 - 0.03) / 0.6) for the second and 0 otherwise. So ratings come from latent
// factors: on held-out ratings of 4 and 5, precision@10 is 0.057 for NMF
// (k = 5) and 0.050 for user-based CF against 0.016 for recommending the
// most-rated products (scikit-learn, scale 1).
//
// Events. For every sale, a browsing session on the sale's day:
// Poisson(0.6) other products (picked like purchases) viewed, 30% of them
// clicked first and 10% put in the cart and abandoned; then the purchase
// funnel: a click (30%), view, cart and purchase of the product bought.
//
// The loop's customers. [Shop] replays the same customers for
// `flywheel demo loop`: [Shop.Likes] is the probability that a customer's
// rating of a product would be 4 or 5 under the rule above, and
// [Shop.Week] is a customer's week after being shown products: each
// clicked (and viewed) with probability ClickShare x Likes, a clicked one
// bought (cart, purchase) with probability BuyShare x Likes, plus the
// customer's own purchases and browsing at the segment's rate, bought
// products rated as above. Its draws come from a stream of their own,
// chosen by the loop's seed, so the warehouse's rows stay as they are.
//
// testdata/demo/check_structure.py recomputes the figures above with
// scikit-learn and statsmodels from CSV files written by TestDump.
package demo
