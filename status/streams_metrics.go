package status

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// streamGauges are the columns of flywheel.streams exported as gauges,
// when the view has them; stream and partition become labels.
var streamGauges = map[string]string{
	"lag":          "Messages behind the partition's end.",
	"rows_per_s":   "Rows per second the stream writes.",
	"offset":       "Last offset committed with its rows.",
	"dead_letters": "Messages set aside as undecodable.",
}

// StreamCollector exports flywheel.streams at scrape time, so that the
// metrics say what the view says. The view belongs to the streams
// component: while it is absent, nothing is exported, and columns this
// collector does not know are left out.
type StreamCollector struct {
	db  *pgxpool.Pool
	log *slog.Logger
}

// NewStreamCollector reads the view through db.
func NewStreamCollector(db *pgxpool.Pool, log *slog.Logger) *StreamCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StreamCollector{db: db, log: log}
}

// Describe sends nothing: the view's columns are known only when it is
// read, which makes this an unchecked collector.
func (c *StreamCollector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the view. A failure costs the stream metrics of this
// scrape, not the scrape.
func (c *StreamCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	var ok bool
	if err := c.db.QueryRow(ctx, "SELECT to_regclass('flywheel.streams') IS NOT NULL").Scan(&ok); err != nil || !ok {
		return
	}
	rows, err := c.db.Query(ctx, "SELECT * FROM flywheel.streams LIMIT $1", pgx.QueryResultFormats{pgx.TextFormatCode}, maxStreamRows)
	if err != nil {
		c.log.Debug("status: reading flywheel.streams for metrics", "err", err)
		return
	}
	defer rows.Close()
	stream, partition := -1, -1
	var gauges []int
	var descs []*prometheus.Desc
	var labels []string
	fds := rows.FieldDescriptions()
	for i, fd := range fds {
		switch fd.Name {
		case "stream":
			stream = i
		case "partition":
			partition = i
		}
	}
	if stream >= 0 {
		labels = append(labels, "stream")
	}
	if partition >= 0 {
		labels = append(labels, "partition")
	}
	for i, fd := range fds {
		if help, ok := streamGauges[fd.Name]; ok {
			gauges = append(gauges, i)
			descs = append(descs, prometheus.NewDesc("flywheel_stream_"+fd.Name, help, labels, nil))
		}
	}
	// A registry refuses a scrape with one series twice: the first row of
	// a stream and partition wins.
	seen := map[[2]string]bool{}
	for rows.Next() {
		raw := rows.RawValues()
		var lv []string
		var key [2]string
		for k, i := range []int{stream, partition} {
			if i >= 0 {
				key[k] = string(raw[i])
				lv = append(lv, key[k])
			}
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		for j, i := range gauges {
			v, err := strconv.ParseFloat(string(raw[i]), 64)
			if raw[i] == nil || err != nil {
				continue
			}
			m, err := prometheus.NewConstMetric(descs[j], prometheus.GaugeValue, v, lv...)
			if err == nil {
				ch <- m
			}
		}
	}
	if err := rows.Err(); err != nil {
		c.log.Debug("status: reading flywheel.streams for metrics", "err", err)
	}
}
