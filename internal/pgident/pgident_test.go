package pgident

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"cluster": "cluster", "k": "k", "n_init": "n_init", "x1": "x1", "input": "input",
		"user": `"user"`, "select": `"select"`, "default": `"default"`, // reserved
		"row": `"row"`, "values": `"values"`, "between": `"between"`, // column-name keywords
		"left": `"left"`, "similar": `"similar"`, "verbose": `"verbose"`, // type/function-name keywords
		"Item": `"Item"`, "a b": `"a b"`, `a"b`: `"a""b"`, "1x": `"1x"`, "": `""`, "a$": `"a$"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Every quoted or plain name must parse where Flywheel writes names: a
// column alias list and a function's parameters and result columns.
func TestQuoteParses(t *testing.T) {
	for _, w := range []string{"cluster", "user", "row", "left", "values", "order", "key", "ts", "rank", "analyse", "Mixed"} {
		q := Quote(w)
		for _, sql := range []string{
			"SELECT * FROM unnest($1) AS " + q + "(" + q + ")",
			"CREATE FUNCTION flywheel." + q + "(" + q + " int) RETURNS TABLE(" + q + " int) LANGUAGE sql AS 'SELECT 1'",
		} {
			if _, err := pg_query.Parse(sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	}
}
