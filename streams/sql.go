package streams

import (
	"context"
	"errors"

	"github.com/flywheeldb/flywheel/catalog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier runs SQL with text parameters (nil: NULL) and returns text
// results (NULL: ""), on the session's connection (catalog.DB) for the
// SQL functions and on the consumer's own connections for the rest.
type querier interface {
	query(ctx context.Context, sql string, args ...any) ([][]string, error)
}

// sessionDB is a querier over the session's connection.
type sessionDB struct{ db catalog.DB }

func (s sessionDB) query(ctx context.Context, sql string, args ...any) ([][]string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case nil:
		case string:
			params[i] = []byte(v)
		default:
			return nil, errors.New("streams: session parameters must be text")
		}
	}
	var out [][]string
	err := s.db.Query(ctx, sql, make([]uint32, len(args)), params, nil, nil, func(vals [][]byte) error {
		r := make([]string, len(vals))
		for i, v := range vals {
			r[i] = string(v)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// pgxQuerier is a querier over a pgx connection or transaction.
type pgxQuerier struct {
	q interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (p pgxQuerier) query(ctx context.Context, sql string, args ...any) ([][]string, error) {
	rows, err := p.q.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		raw := rows.RawValues()
		r := make([]string, len(raw))
		for i, v := range raw {
			r[i] = string(v)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sqlState is err's SQLSTATE, "" for an error that is not PostgreSQL's.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgMessage is a PostgreSQL error's message alone.
func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// messageFault reports whether a PostgreSQL error is about the rows
// themselves (a value a type rejects, a constraint, a trigger's RAISE),
// so that finding the offending message and dead-lettering it is right;
// anything else (connection loss, serialization failure, deadlock, a
// full disk, a dropped column) is retried with the whole batch.
func messageFault(err error) bool {
	code := sqlState(err)
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "22", "23", "P0":
		return true
	}
	return code == "42804"
}
