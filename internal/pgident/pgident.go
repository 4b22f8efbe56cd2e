// Package pgident quotes SQL identifiers as PostgreSQL's quote_ident does.
package pgident

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Quote returns s unchanged when PostgreSQL reads it back unquoted as s in
// any position (lower-case letters, digits and underscores, not starting
// with a digit, not a keyword other than an unreserved one), else quoted.
func Quote(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9'
	}
	if plain && !keyword(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// keyword reports whether a plain word is a reserved, column-name or
// type/function-name keyword, asking PostgreSQL's own scanner (pg_query's
// PostgreSQL 17) rather than a list that falls out of date.
func keyword(s string) bool {
	r, err := pg_query.Scan(s)
	if err != nil || len(r.Tokens) != 1 {
		return true // quoting is always safe
	}
	k := r.Tokens[0].KeywordKind
	return k != pg_query.KeywordKind_NO_KEYWORD && k != pg_query.KeywordKind_UNRESERVED_KEYWORD
}
