// Package e2e holds Flywheel's end-to-end tests: a real PostgreSQL, the
// proxy with the real planner and catalog, and real clients (pgx in both
// protocols, psql, pgJDBC) running the golden cases in testdata/golden,
// read by internal/datadriven:
//
//	<directive>
//	<SQL, one or more lines>
//	----
//	<expected output>
//	<blank line>
//
// Directives: "exec" runs setup SQL and expects nothing; "query" expects a
// header line (column names joined by |) then one line per row; "error"
// expects the SQLSTATE alone on the first line. Lines starting with # are
// comments.
package e2e
