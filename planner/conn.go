package planner

import (
	"context"

	"github.com/flywheeldb/flywheel/catalog"
)

// Conn runs the planner's side queries on the session's own upstream
// connection, so they see its open transaction, temp tables and
// search_path. The wire package implements it; the planner knows no sockets.
//
// Errors from PostgreSQL come back as values the wire package recognises
// and relays unchanged; the planner returns them as they are (wrapped with
// %w is fine).
type Conn interface {
	// Describe prepares sql with the given parameter type OIDs (0 lets
	// PostgreSQL infer one) without running it, and reports the parameter
	// types PostgreSQL settled on and the result columns (nil when the
	// statement returns no rows).
	Describe(ctx context.Context, sql string, paramOIDs []uint32) (params []uint32, cols []catalog.InputColumn, err error)

	// Query runs sql with parameters (nil is NULL; formats as in a Bind
	// message: none means all text, one applies to all) and calls row for
	// each result row with its values in text format (nil is NULL). The
	// slices passed to row are only valid during the call. cols, when not
	// nil, is called once before the first row with the result columns.
	Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
		cols func([]catalog.InputColumn) error, row func([][]byte) error) error
}

// Noticer is a Conn that can tell the client something now, as a NOTICE
// (the planner's progress reports of long calls). Conns without it get
// none.
type Noticer interface {
	Notice(msg string) error
}
