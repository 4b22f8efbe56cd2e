-- The demo warehouse: a star schema in the public schema.
--
-- Load runs the part before the "@after-load" marker, COPYs the generated
-- rows, then runs the part after it: primary keys, foreign keys and indexes
-- are built once over the loaded rows, which is far faster than maintaining
-- them row by row. Everything, including the flywheel_demo_meta row written
-- last, happens in one transaction.

-- One row per calendar day, 2020-01-01 .. 2025-12-31: sign-ups start in
-- 2020, sales run 2021-01-01 .. 2024-12-31, and 2025 is there for forecasts.
CREATE TABLE dim_date (
    date_key     date    NOT NULL,
    year         integer NOT NULL,
    quarter      integer NOT NULL,
    month        integer NOT NULL,
    month_name   text    NOT NULL,
    day          integer NOT NULL,
    day_of_week  integer NOT NULL, -- ISO: 1 = Monday .. 7 = Sunday
    day_name     text    NOT NULL,
    is_weekend   boolean NOT NULL,
    month_start  date    NOT NULL,
    month_end    date    NOT NULL  -- month-end dates: what holt_forecast continues
);

INSERT INTO dim_date
SELECT d::date,
       extract(year FROM d)::int,
       extract(quarter FROM d)::int,
       extract(month FROM d)::int,
       to_char(d, 'FMMonth'),
       extract(day FROM d)::int,
       extract(isodow FROM d)::int,
       to_char(d, 'FMDay'),
       extract(isodow FROM d) >= 6,
       date_trunc('month', d)::date,
       (date_trunc('month', d) + interval '1 month - 1 day')::date
FROM generate_series(date '2020-01-01', date '2025-12-31', interval '1 day') AS g(d);

CREATE TABLE dim_customer (
    customer_id            integer       NOT NULL,
    customer_name          text          NOT NULL,
    region                 text          NOT NULL,
    signup_date            date          NOT NULL,
    -- The segment the generator drew the customer from (champion, loyal,
    -- occasional, lapsed): the ground truth k-means is checked against.
    segment                text          NOT NULL,
    -- Segment inputs, measured on fact_sales at 2024-12-31:
    -- purchases per month since the customer's first possible purchase
    -- (sign-up or 2021-01-01, at least three months),
    purchase_frequency     numeric(6,2)  NOT NULL,
    -- mean sales_amount,
    avg_spend              numeric(10,2) NOT NULL,
    -- days from the last sale to 2024-12-31.
    last_purchase_days_ago integer       NOT NULL
);

CREATE TABLE dim_product (
    product_id   integer       NOT NULL,
    product_name text          NOT NULL,
    category     text          NOT NULL,
    description  text          NOT NULL,
    price        numeric(10,2) NOT NULL CHECK (price > 0)
);

CREATE TABLE fact_sales (
    sale_id      bigint        NOT NULL,
    product_id   integer       NOT NULL,
    customer_id  integer       NOT NULL,
    quantity     integer       NOT NULL CHECK (quantity > 0),
    -- quantity * price, less a discount on some sales
    sales_amount numeric(12,2) NOT NULL,
    sale_date    date          NOT NULL
);

CREATE TABLE fact_ratings (
    customer_id integer   NOT NULL,
    product_id  integer   NOT NULL,
    rating      integer   NOT NULL CHECK (rating BETWEEN 1 AND 5),
    rated_at    timestamp NOT NULL
);

CREATE TABLE events (
    event_id    bigint    NOT NULL,
    customer_id integer   NOT NULL,
    event_type  text      NOT NULL CHECK (event_type IN ('click', 'view', 'cart', 'purchase')),
    product_id  integer   NOT NULL,
    event_time  timestamp NOT NULL
);

-- @after-load

ALTER TABLE dim_date     ADD PRIMARY KEY (date_key);
ALTER TABLE dim_customer ADD PRIMARY KEY (customer_id);
ALTER TABLE dim_product  ADD PRIMARY KEY (product_id);
ALTER TABLE fact_sales   ADD PRIMARY KEY (sale_id);
ALTER TABLE fact_ratings ADD PRIMARY KEY (customer_id, product_id);
ALTER TABLE events       ADD PRIMARY KEY (event_id);

ALTER TABLE dim_customer ADD FOREIGN KEY (signup_date) REFERENCES dim_date;
ALTER TABLE fact_sales   ADD FOREIGN KEY (product_id)  REFERENCES dim_product;
ALTER TABLE fact_sales   ADD FOREIGN KEY (customer_id) REFERENCES dim_customer;
ALTER TABLE fact_sales   ADD FOREIGN KEY (sale_date)   REFERENCES dim_date;
ALTER TABLE fact_ratings ADD FOREIGN KEY (customer_id) REFERENCES dim_customer;
ALTER TABLE fact_ratings ADD FOREIGN KEY (product_id)  REFERENCES dim_product;
ALTER TABLE events       ADD FOREIGN KEY (customer_id) REFERENCES dim_customer;
ALTER TABLE events       ADD FOREIGN KEY (product_id)  REFERENCES dim_product;

-- What analysts filter and join on: a customer's history, a product's
-- sales and ratings, a date range, a category or region. (No index on
-- events.product_id: it would cost a fifth of the load for a rare query.)
CREATE INDEX ON fact_sales (customer_id);
CREATE INDEX ON fact_sales (product_id);
CREATE INDEX ON fact_sales (sale_date);
CREATE INDEX ON fact_ratings (product_id);
CREATE INDEX ON events (customer_id, event_time);
CREATE INDEX ON dim_product (category);
CREATE INDEX ON dim_customer (region);

-- Written last, in the load's transaction: its row means every table above
-- is complete. One row.
CREATE TABLE flywheel_demo_meta (
    singleton         boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    scale             integer     NOT NULL,
    seed              bigint      NOT NULL,
    generator_version integer     NOT NULL,
    total_rows        bigint      NOT NULL,
    load_seconds      float8      NOT NULL,
    loaded_at         timestamptz NOT NULL DEFAULT now()
);
