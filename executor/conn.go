package executor

import (
	"context"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Upstream is what the executor needs of the wire session: wire sends the
// messages upstream in order with the client's requests, and picks their
// responses out of the upstream's stream.
type Upstream interface {
	// Side sends msgs upstream as one side query, one response expected
	// for each, and waits for the last. It reports the parameter types and
	// result columns a Describe in msgs returned (valid until the next
	// Side), or the first error: the upstream's (an *UpstreamError),
	// ErrSkipped, the connection's, or that of cols or row.
	Side(msgs []pgproto3.FrontendMessage, cols func([]catalog.InputColumn) error, row func([][]byte) error) (params []uint32, columns []catalog.InputColumn, err error)
	// ToClient sends msg to the client in order with what the upstream's
	// responses still owe it.
	ToClient(msg pgproto3.BackendMessage) error
}

// Conn is the planner's connection (planner.Conn and planner.Noticer)
// over a session's upstream: side queries run as a statement and portal
// of the proxy's own, SideName.
type Conn struct{ up Upstream }

// NewConn returns the planner's connection over up.
func NewConn(up Upstream) *Conn { return &Conn{up: up} }

// Describe implements planner.Conn.
func (c *Conn) Describe(ctx context.Context, sql string, paramOIDs []uint32) ([]uint32, []catalog.InputColumn, error) {
	params, cols, err := c.up.Side([]pgproto3.FrontendMessage{
		// A side query that failed earlier was skipped up to Sync, its
		// Close too: drop any leftover first (closing nothing is no error).
		&pgproto3.Close{ObjectType: 'S', Name: SideName},
		&pgproto3.Parse{Name: SideName, Query: sql, ParameterOIDs: paramOIDs},
		&pgproto3.Describe{ObjectType: 'S', Name: SideName},
		&pgproto3.Close{ObjectType: 'S', Name: SideName},
	}, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if cols != nil {
		cols = append([]catalog.InputColumn(nil), cols...)
	}
	return append([]uint32(nil), params...), cols, nil
}

// Query implements planner.Conn.
func (c *Conn) Query(ctx context.Context, sql string, paramOIDs []uint32, params [][]byte, formats []int16,
	cols func([]catalog.InputColumn) error, row func([][]byte) error) error {
	_, _, err := c.up.Side([]pgproto3.FrontendMessage{
		&pgproto3.Close{ObjectType: 'S', Name: SideName}, // see Describe
		&pgproto3.Parse{Name: SideName, Query: sql, ParameterOIDs: paramOIDs},
		&pgproto3.Bind{DestinationPortal: SideName, PreparedStatement: SideName, Parameters: params, ParameterFormatCodes: formats},
		&pgproto3.Describe{ObjectType: 'P', Name: SideName},
		&pgproto3.Execute{Portal: SideName},
		&pgproto3.Close{ObjectType: 'P', Name: SideName},
		&pgproto3.Close{ObjectType: 'S', Name: SideName},
	}, cols, row)
	return err
}

// Notice implements planner.Noticer: a NOTICE to the client, in order
// with what the upstream's responses still owe it.
func (c *Conn) Notice(msg string) error {
	return c.up.ToClient(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: msg})
}
