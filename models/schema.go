package models

// The store's tables, in schema flywheel of the backing database. Flywheel
// creates and migrates them at start-up (Migrate); each migration runs
// once, in order, recorded in flywheel.store_migrations, under an advisory
// lock so that several Flywheels starting together do not race. The tables
// are ordinary ones: pg_dump carries models along, and plain SQL reads
// them (through the views models and model_versions).
var migrations = []string{
	// 1: models, their versions with the encoded state, and the history
	// of deployments that rollback walks back.
	`CREATE TABLE flywheel.model (
	name text PRIMARY KEY,
	kind text NOT NULL,
	deployed_version integer,
	created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE flywheel.model_version (
	model text NOT NULL REFERENCES flywheel.model (name) ON DELETE CASCADE,
	version integer NOT NULL,
	status text NOT NULL CHECK (status IN ('ready', 'failed')),
	rows bigint,
	metrics jsonb NOT NULL DEFAULT '{}',
	primary_metric text,
	options jsonb NOT NULL DEFAULT '{}',
	inputs jsonb NOT NULL DEFAULT '[]',
	source_sql text,
	trained_at timestamptz NOT NULL DEFAULT now(),
	train_ms double precision,
	error text,
	state bytea,
	PRIMARY KEY (model, version)
);
CREATE TABLE flywheel.model_deployment (
	id bigserial PRIMARY KEY,
	model text NOT NULL REFERENCES flywheel.model (name) ON DELETE CASCADE,
	version integer NOT NULL,
	deployed_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (model, version) REFERENCES flywheel.model_version (model, version) ON DELETE CASCADE
);
CREATE INDEX ON flywheel.model_deployment (model, id);
CREATE VIEW flywheel.models AS
SELECT m.name, m.kind, m.deployed_version,
	(SELECT count(*) FROM flywheel.model_version v WHERE v.model = m.name) AS versions,
	m.created,
	(SELECT max(v.trained_at) FROM flywheel.model_version v WHERE v.model = m.name) AS last_trained,
	d.primary_metric,
	(d.metrics ->> d.primary_metric)::double precision AS primary_value
FROM flywheel.model m
LEFT JOIN flywheel.model_version d ON d.model = m.name AND d.version = m.deployed_version;
CREATE VIEW flywheel.model_versions AS
SELECT v.model, v.version,
	CASE WHEN v.status = 'failed' THEN 'failed'
	     WHEN m.deployed_version = v.version THEN 'deployed'
	     ELSE 'challenger' END AS status,
	v.rows, v.metrics, v.options, v.source_sql, v.trained_at, v.train_ms, v.error,
	octet_length(v.state) AS state_bytes
FROM flywheel.model_version v
JOIN flywheel.model m ON m.name = v.model;
COMMENT ON VIEW flywheel.models IS 'Flywheel''s stored models: one row per name, with the deployed version and its primary metric.';
COMMENT ON VIEW flywheel.model_versions IS 'Every trained version of every model: status deployed, challenger or failed, metrics, options, the training SQL.'`,
	// 2: decisions served from models (recommend(..., log => true)), to
	// be scored against what users did next (flywheel.outcomes). Keys are
	// kept as text: any key type, and no foreign key to the warehouse.
	`CREATE TABLE flywheel.decisions (
	id bigserial PRIMARY KEY,
	model text NOT NULL,
	version integer NOT NULL,
	user_key text NOT NULL,
	item text NOT NULL,
	rank integer NOT NULL,
	score double precision,
	served_at timestamptz NOT NULL DEFAULT now(),
	application_name text
);
CREATE INDEX ON flywheel.decisions (model, served_at);
COMMENT ON TABLE flywheel.decisions IS 'Every row served by a model call with log => true: which version recommended what to whom, when, and to which application.'`,
	// 3: refresh policies (train's refresh =>), what their next training
	// needs, and when it is due. generation changes with every write, so
	// that a refresh stores its outcome only if nobody (another Flywheel,
	// a new train) wrote the policy since it was read. The new columns of
	// the views come last: CREATE OR REPLACE VIEW keeps the others.
	`CREATE TABLE flywheel.model_refresh (
	model text PRIMARY KEY REFERENCES flywheel.model (name) ON DELETE CASCADE,
	every interval,
	watermark text,
	kind text NOT NULL,
	options jsonb NOT NULL DEFAULT '{}',
	inputs jsonb NOT NULL DEFAULT '[]',
	holdout double precision NOT NULL DEFAULT 0,
	promote text NOT NULL,
	source_sql text NOT NULL,
	search_path text NOT NULL,
	role text NOT NULL,
	mark text,
	generation bigint NOT NULL DEFAULT 1,
	next_refresh timestamptz NOT NULL,
	last_refresh timestamptz,
	last_error text,
	failures integer NOT NULL DEFAULT 0,
	updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON flywheel.model_refresh (next_refresh);
ALTER TABLE flywheel.model_version ADD COLUMN refresh_due timestamptz, ADD COLUMN refreshed_by text;
CREATE OR REPLACE VIEW flywheel.models AS
SELECT m.name, m.kind, m.deployed_version,
	(SELECT count(*) FROM flywheel.model_version v WHERE v.model = m.name) AS versions,
	m.created,
	(SELECT max(v.trained_at) FROM flywheel.model_version v WHERE v.model = m.name) AS last_trained,
	d.primary_metric,
	(d.metrics ->> d.primary_metric)::double precision AS primary_value,
	CASE WHEN r.model IS NULL THEN NULL WHEN r.every IS NULL THEN 'on_change' ELSE r.every::text END AS refresh,
	r.next_refresh,
	r.last_error
FROM flywheel.model m
LEFT JOIN flywheel.model_version d ON d.model = m.name AND d.version = m.deployed_version
LEFT JOIN flywheel.model_refresh r ON r.model = m.name;
CREATE OR REPLACE VIEW flywheel.model_versions AS
SELECT v.model, v.version,
	CASE WHEN v.status = 'failed' THEN 'failed'
	     WHEN m.deployed_version = v.version THEN 'deployed'
	     ELSE 'challenger' END AS status,
	v.rows, v.metrics, v.options, v.source_sql, v.trained_at, v.train_ms, v.error,
	octet_length(v.state) AS state_bytes,
	v.refresh_due, v.refreshed_by
FROM flywheel.model_version v
JOIN flywheel.model m ON m.name = v.model;
COMMENT ON TABLE flywheel.model_refresh IS 'Refresh policies set by flywheel.train(..., refresh => ...): the training to run again, and when.';
COMMENT ON VIEW flywheel.models IS 'Flywheel''s stored models: one row per name, with the deployed version and its primary metric, the refresh policy, the next refresh and the last refresh error.';
COMMENT ON VIEW flywheel.model_versions IS 'Every trained version of every model: status deployed, challenger or failed, metrics, options, the training SQL; refresh_due and refreshed_by for versions a refresh made.'`,

	// 4: online trials (train's promote => 'if_better_online'): the plan
	// a model's trials follow, and its current or last trial.
	`CREATE TABLE flywheel.model_trial (
	model text PRIMARY KEY REFERENCES flywheel.model (name) ON DELETE CASCADE,
	traffic double precision NOT NULL,
	events_sql text NOT NULL,
	within interval NOT NULL,
	search_path text NOT NULL,
	role text NOT NULL,
	champion integer,
	challenger integer,
	started_at timestamptz,
	decided_at timestamptz,
	result text,
	champion_decisions bigint,
	champion_hit_rate double precision,
	challenger_decisions bigint,
	challenger_hit_rate double precision
);
CREATE OR REPLACE VIEW flywheel.models AS
SELECT m.name, m.kind, m.deployed_version,
	(SELECT count(*) FROM flywheel.model_version v WHERE v.model = m.name) AS versions,
	m.created,
	(SELECT max(v.trained_at) FROM flywheel.model_version v WHERE v.model = m.name) AS last_trained,
	d.primary_metric,
	(d.metrics ->> d.primary_metric)::double precision AS primary_value,
	CASE WHEN r.model IS NULL THEN NULL WHEN r.every IS NULL THEN 'on_change' ELSE r.every::text END AS refresh,
	r.next_refresh,
	r.last_error,
	CASE WHEN t.decided_at IS NULL THEN t.challenger END AS trial_version,
	CASE WHEN t.decided_at IS NULL AND t.challenger IS NOT NULL THEN t.traffic END AS trial_traffic,
	CASE WHEN t.decided_at IS NULL AND t.challenger IS NOT NULL THEN t.started_at + t.within END AS trial_ends
FROM flywheel.model m
LEFT JOIN flywheel.model_version d ON d.model = m.name AND d.version = m.deployed_version
LEFT JOIN flywheel.model_refresh r ON r.model = m.name
LEFT JOIN flywheel.model_trial t ON t.model = m.name;
CREATE OR REPLACE VIEW flywheel.model_versions AS
SELECT v.model, v.version,
	CASE WHEN v.status = 'failed' THEN 'failed'
	     WHEN m.deployed_version = v.version THEN 'deployed'
	     WHEN t.challenger = v.version AND t.decided_at IS NULL THEN 'trial'
	     ELSE 'challenger' END AS status,
	v.rows, v.metrics, v.options, v.source_sql, v.trained_at, v.train_ms, v.error,
	octet_length(v.state) AS state_bytes,
	v.refresh_due, v.refreshed_by
FROM flywheel.model_version v
JOIN flywheel.model m ON m.name = v.model
LEFT JOIN flywheel.model_trial t ON t.model = v.model;
CREATE VIEW flywheel.trials AS
SELECT model, champion, challenger, traffic, within, started_at, started_at + within AS ends_at, decided_at, result,
	champion_decisions, champion_hit_rate, challenger_decisions, challenger_hit_rate
FROM flywheel.model_trial WHERE challenger IS NOT NULL;
COMMENT ON TABLE flywheel.model_trial IS 'Online trials (flywheel.train(..., promote => ''if_better_online'')): the plan, and the current or last trial with its outcome.';
COMMENT ON VIEW flywheel.trials IS 'Each model''s current or last online trial: champion and challenger versions, traffic share, window, and once decided the result (promoted, kept, ended) with both versions'' decisions and hit rates.';
COMMENT ON VIEW flywheel.model_versions IS 'Every trained version of every model: status deployed, trial (serving a share of users in an online trial), challenger or failed, metrics, options, the training SQL; refresh_due and refreshed_by for versions a refresh made.'`,

	// 5: event streams (package streams): what to consume and where to,
	// the next offset of every partition (advanced in the same transaction
	// as the rows it covers, which is what makes ingestion exactly once),
	// the messages that could not be stored, and running aggregates kept
	// in step with the target. holder and the lease columns are for
	// people reading the view: ownership itself is an advisory lock.
	`CREATE TABLE flywheel.stream (
	name text PRIMARY KEY,
	brokers text,
	topic text NOT NULL,
	target regclass NOT NULL,
	format text NOT NULL DEFAULT 'json' CHECK (format IN ('json')),
	mapping jsonb,
	time_zone text NOT NULL DEFAULT 'UTC',
	start text NOT NULL DEFAULT 'earliest' CHECK (start IN ('earliest', 'latest')),
	paused boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_error text,
	last_error_at timestamptz
);
CREATE TABLE flywheel.stream_offset (
	stream text NOT NULL REFERENCES flywheel.stream (name) ON DELETE CASCADE,
	partition integer NOT NULL,
	next_offset bigint NOT NULL,
	high_watermark bigint,
	rows bigint NOT NULL DEFAULT 0,
	rows_per_sec double precision,
	holder text,
	last_error text,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (stream, partition)
);
CREATE TABLE flywheel.dead_letters (
	id bigserial PRIMARY KEY,
	stream text NOT NULL,
	partition integer NOT NULL,
	"offset" bigint NOT NULL,
	raw bytea,
	error text NOT NULL,
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON flywheel.dead_letters (stream, at);
CREATE TABLE flywheel.stream_aggregate (
	name text PRIMARY KEY,
	stream text NOT NULL REFERENCES flywheel.stream (name) ON DELETE CASCADE,
	"table" regclass NOT NULL,
	group_by text[] NOT NULL,
	aggregates jsonb NOT NULL,
	time_column text,
	"window" interval,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE VIEW flywheel.streams AS
SELECT s.name AS stream, s.topic, s.target, o.partition, o.next_offset AS "offset", o.high_watermark,
	greatest(o.high_watermark - o.next_offset, 0) AS lag, o.rows, o.rows_per_sec,
	(SELECT count(*) FROM flywheel.dead_letters d WHERE d.stream = s.name AND d.partition IS NOT DISTINCT FROM o.partition) AS dead_letters,
	s.paused, o.holder, coalesce(o.last_error, s.last_error) AS last_error, o.updated_at
FROM flywheel.stream s
LEFT JOIN flywheel.stream_offset o ON o.stream = s.name;
COMMENT ON TABLE flywheel.stream IS 'Event streams declared with flywheel.create_stream: a Kafka topic consumed into a target table.';
COMMENT ON TABLE flywheel.stream_offset IS 'The next offset of each stream partition, advanced in the same transaction as the rows it covers.';
COMMENT ON TABLE flywheel.dead_letters IS 'Stream messages that could not be stored (undecodable, missing or mistyped fields, constraint violations), with the reason.';
COMMENT ON VIEW flywheel.streams IS 'Every stream partition: offset, broker high watermark, lag, rows stored, rows/s, dead letters, holder and last error.'`,

	// 6: refresh_mode => 'learn': a refresh that learns the input's rows
	// past the watermark into the deployed version instead of training.
	`ALTER TABLE flywheel.model_refresh ADD COLUMN mode text NOT NULL DEFAULT 'train' CHECK (mode IN ('train', 'learn'));
CREATE OR REPLACE VIEW flywheel.models AS
SELECT m.name, m.kind, m.deployed_version,
	(SELECT count(*) FROM flywheel.model_version v WHERE v.model = m.name) AS versions,
	m.created,
	(SELECT max(v.trained_at) FROM flywheel.model_version v WHERE v.model = m.name) AS last_trained,
	d.primary_metric,
	(d.metrics ->> d.primary_metric)::double precision AS primary_value,
	CASE WHEN r.model IS NULL THEN NULL WHEN r.every IS NULL THEN 'on_change' ELSE r.every::text END AS refresh,
	r.next_refresh,
	r.last_error,
	CASE WHEN t.decided_at IS NULL THEN t.challenger END AS trial_version,
	CASE WHEN t.decided_at IS NULL AND t.challenger IS NOT NULL THEN t.traffic END AS trial_traffic,
	CASE WHEN t.decided_at IS NULL AND t.challenger IS NOT NULL THEN t.started_at + t.within END AS trial_ends,
	r.mode AS refresh_mode
FROM flywheel.model m
LEFT JOIN flywheel.model_version d ON d.model = m.name AND d.version = m.deployed_version
LEFT JOIN flywheel.model_refresh r ON r.model = m.name
LEFT JOIN flywheel.model_trial t ON t.model = m.name;
COMMENT ON VIEW flywheel.models IS 'Flywheel''s stored models: one row per name, with the deployed version and its primary metric, the refresh policy and mode, the next refresh, the last refresh error, and a running online trial.'`,
	// 7: versions stored as a delta on another (learn of user_cf stores
	// the ratings it learned): base_version is the version the state
	// applies to, NULL for a whole state. The foreign key keeps a base
	// while anything depends on it; dropping the model removes them all.
	`ALTER TABLE flywheel.model_version ADD COLUMN base_version integer,
	ADD FOREIGN KEY (model, base_version) REFERENCES flywheel.model_version (model, version);
CREATE OR REPLACE VIEW flywheel.model_versions AS
SELECT v.model, v.version,
	CASE WHEN v.status = 'failed' THEN 'failed'
	     WHEN m.deployed_version = v.version THEN 'deployed'
	     WHEN t.challenger = v.version AND t.decided_at IS NULL THEN 'trial'
	     ELSE 'challenger' END AS status,
	v.rows, v.metrics, v.options, v.source_sql, v.trained_at, v.train_ms, v.error,
	octet_length(v.state) AS state_bytes,
	v.refresh_due, v.refreshed_by, v.base_version
FROM flywheel.model_version v
JOIN flywheel.model m ON m.name = v.model
LEFT JOIN flywheel.model_trial t ON t.model = v.model;
COMMENT ON VIEW flywheel.model_versions IS 'Every trained version of every model: status deployed, trial (serving a share of users in an online trial), challenger or failed, metrics, options, the training SQL; refresh_due and refreshed_by for versions a refresh made; base_version for a version stored as a delta on another (state_bytes is then the delta''s).'`,
	// 8: decisions stored one row per served list (items and scores as
	// arrays, rank = position): logging then writes one heap tuple and
	// one index entry per call instead of a tuple and two index entries
	// per item (PostgreSQL's part of a logged call fell from about +120 µs
	// to +25 µs). flywheel.decisions becomes a view with the same columns (less
	// the id, which nothing read), one row per served item. Lists
	// already logged are regrouped by call: the same version, user,
	// served_at and application.
	`CREATE TABLE flywheel.decision_lists (
	model text NOT NULL,
	version integer NOT NULL,
	user_key text NOT NULL,
	items text[] NOT NULL,
	scores double precision[] NOT NULL,
	served_at timestamptz NOT NULL DEFAULT now(),
	application_name text
);
CREATE INDEX ON flywheel.decision_lists (model, served_at);
INSERT INTO flywheel.decision_lists (model, version, user_key, items, scores, served_at, application_name)
SELECT model, version, user_key, array_agg(item ORDER BY rank, id), array_agg(score ORDER BY rank, id), served_at, application_name
FROM flywheel.decisions
GROUP BY model, version, user_key, served_at, application_name;
DROP TABLE flywheel.decisions;
CREATE VIEW flywheel.decisions AS
SELECT l.model, l.version, l.user_key, d.item, d.rank::integer AS rank, d.score, l.served_at, l.application_name
FROM flywheel.decision_lists l
CROSS JOIN LATERAL unnest(l.items, l.scores) WITH ORDINALITY AS d(item, score, rank)
WHERE d.item IS NOT NULL;
-- DELETE on the view still works: a deleted item's place in its list is
-- emptied (the others keep their ranks), and an emptied list goes.
CREATE FUNCTION flywheel.decisions_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE flywheel.decision_lists l SET items[OLD.rank] = NULL
	WHERE l.model = OLD.model AND l.served_at = OLD.served_at AND l.version = OLD.version
		AND l.user_key = OLD.user_key AND l.application_name IS NOT DISTINCT FROM OLD.application_name
		AND l.items[OLD.rank] = OLD.item;
	DELETE FROM flywheel.decision_lists l
	WHERE l.model = OLD.model AND l.served_at = OLD.served_at AND array_remove(l.items, NULL) = '{}';
	RETURN OLD;
END $$;
CREATE TRIGGER decisions_delete INSTEAD OF DELETE ON flywheel.decisions
	FOR EACH ROW EXECUTE FUNCTION flywheel.decisions_delete();
COMMENT ON TABLE flywheel.decision_lists IS 'Every list served by a model call with log => true, one row per call: which version recommended which items (in rank order) with which scores to whom, when, and to which application. Deleting old decisions is fastest here.';
COMMENT ON VIEW flywheel.decisions IS 'Every row served by a model call with log => true (flywheel.decision_lists, one row per item): which version recommended what to whom, at which rank, when, and to which application.'`,
}

// migrateLock is the advisory lock key that serialises migrations.
const migrateLock = "flywheel.store"

// Channel is the LISTEN/NOTIFY channel on which a change to a model is
// announced (payload: the model's name) when its transaction commits.
const Channel = "flywheel_models"
