package executor

import (
	"context"
	"errors"
	"log/slog"

	"github.com/flywheeldb/flywheel/planner"
	"github.com/jackc/pgx/v5/pgproto3"
)

// UpstreamError is an ErrorResponse PostgreSQL sent for a side query.
type UpstreamError struct{ Resp *pgproto3.ErrorResponse }

func (e *UpstreamError) Error() string { return e.Resp.Message }

// SQLState lets the planner pass PostgreSQL's own error through unchanged.
func (e *UpstreamError) SQLState() string { return e.Resp.Code }

var (
	// ErrSkipped: the server skipped a side query because an earlier
	// request in the same batch failed; the client's request is skipped
	// likewise.
	ErrSkipped = errors.New("skipped after an earlier error")
	// ErrUpstreamGone ends a session whose upstream connection closed.
	ErrUpstreamGone = errors.New("upstream connection closed")
)

// ErrorResponse turns a planner or side-query error into the client's
// ErrorResponse; offset is where the failed statement starts in the
// client's text. abort says whether the upstream has yet to fail the same
// way (see AbortSQL). A nil response means the request was skipped.
func ErrorResponse(log *slog.Logger, err error, offset int) (resp *pgproto3.ErrorResponse, abort bool) {
	var ue *UpstreamError
	var pe *planner.Error
	switch {
	case errors.Is(err, ErrSkipped):
		return nil, false
	case errors.As(err, &ue):
		resp := *ue.Resp
		var se *planner.SideQueryError
		if resp.Position > 0 {
			resp.Position = 0
			if errors.As(err, &se) && se.Position != nil {
				if p := se.Position(int(ue.Resp.Position)); p > 0 {
					resp.Position = int32(p + offset)
				}
			}
		}
		return &resp, false
	case errors.As(err, &pe):
		r := &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: pe.Code,
			Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint}
		if pe.Position > 0 {
			r.Position = int32(pe.Position + offset)
		}
		return r, true
	case errors.Is(err, ErrUpstreamGone):
		// The session is over; the client has been told why, if anyone
		// knew.
		return &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08006",
			Message: "terminating connection: the upstream PostgreSQL connection was lost"}, false
	case errors.Is(err, context.Canceled):
		return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "57014",
			Message: "canceling statement due to user request"}, true
	}
	log.Error("model function call failed", "err", err)
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "XX000",
		Message: "flywheel: " + err.Error()}, true
}
