package catalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flywheeldb/flywheel/internal/pgident"
)

// StubSchema is the schema that holds the stub functions.
const StubSchema = "flywheel"

// StubDDL returns the statements that create, idempotently, schema flywheel
// with one stub SQL function per catalog entry: the same signature, a
// COMMENT holding its documentation, and a body that tells a client which
// bypassed the proxy to connect through Flywheel. Run them in one
// transaction. Relation arguments are declared text: SQL has no type for
// "a subquery", and the stub exists to be listed, not called.
func StubDDL(c *Catalog) []string {
	stmts := []string{
		// Serialise concurrent start-ups of several proxies.
		"SELECT pg_advisory_xact_lock(hashtext('flywheel.stubs'))",
		"CREATE SCHEMA IF NOT EXISTS " + StubSchema,
		"COMMENT ON SCHEMA " + StubSchema + " IS 'Flywheel model functions. They run in the Flywheel proxy: connect through it to call them.'",
		// Stubs of every signature an earlier Flywheel made go first (a
		// function that gained an argument would otherwise be listed
		// twice); a stub is known by its body, other functions stay.
		`DO $flywheel$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ` + sqlLiteral(StubSchema) + ` AND p.prosrc LIKE '%runs in the Flywheel proxy, not in PostgreSQL%' LOOP
    EXECUTE 'DROP FUNCTION ' || f;
  END LOOP;
END
$flywheel$`,
	}
	for _, f := range c.Funcs() {
		var params, types []string
		optional := false
		for _, a := range f.Args {
			typ := a.Type.Name
			if a.Relation || typ == "" {
				typ = "text"
			}
			p := pgident.Quote(a.Name) + " " + typ
			switch {
			case !a.Required:
				p += " DEFAULT " + sqlLiteral(a.Default)
				optional = true
			case optional: // SQL wants every argument after a default to have one
				p += " DEFAULT NULL"
			}
			params = append(params, p)
			types = append(types, typ)
		}
		name := StubSchema + "." + pgident.Quote(f.Name)
		sig := name + "(" + strings.Join(types, ", ") + ")"
		returns := stubReturns(f)
		stmts = append(stmts,
			// DROP first: CREATE OR REPLACE cannot change a result type.
			"DROP FUNCTION IF EXISTS "+sig,
			fmt.Sprintf("CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS $flywheel$\nBEGIN\n  RAISE EXCEPTION 'function %s runs in the Flywheel proxy, not in PostgreSQL' USING ERRCODE = '0A000', HINT = 'Connect through Flywheel (by default port 6432) to call model functions.';\nEND\n$flywheel$",
				name, strings.Join(params, ", "), returns, f.Name),
			"COMMENT ON FUNCTION "+sig+" IS "+sqlLiteral(f.Doc+"\n\n"+argDocs(f)),
		)
	}
	return stmts
}

// stubReturns is the stub's RETURNS clause. PostgreSQL forbids a result
// column named like an argument (similar_items has both an argument and a
// column called item), so such a column is listed as result_<name>; and it
// can resolve an anyelement result only from an anyelement argument, so
// without one such a column is listed as text.
func stubReturns(f *Func) string {
	if len(f.Returns) == 0 {
		return "SETOF record"
	}
	args := map[string]bool{}
	poly := false
	for _, a := range f.Args {
		args[a.Name] = true
		poly = poly || !a.Relation && a.Type == AnyType
	}
	cols := make([]string, len(f.Returns))
	for i, c := range f.Returns {
		name, typ := c.Name, c.Type.Name
		if args[name] {
			name = "result_" + name
		}
		if c.Type == AnyType && !poly {
			typ = Text.Name
		}
		cols[i] = pgident.Quote(name) + " " + typ
	}
	return "TABLE(" + strings.Join(cols, ", ") + ")"
}

func argDocs(f *Func) string {
	var b strings.Builder
	b.WriteString("Arguments:")
	for _, a := range f.Args {
		fmt.Fprintf(&b, "\n  %s", a.Name)
		if !a.Required {
			fmt.Fprintf(&b, " (default %s)", sqlLiteral(a.Default))
		}
		if a.Doc != "" {
			b.WriteString(": " + a.Doc)
		}
	}
	return b.String()
}

func sqlLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return sqlLiteral(fmt.Sprint(v))
}
