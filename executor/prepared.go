package executor

import "github.com/flywheeldb/flywheel/planner"

// Prepared tracks a session's SQL-level prepared statements (PREPARE) that
// call model functions, by name, for their EXECUTEs. The zero value is
// ready to use and costs nothing until a PREPARE with calls runs.
type Prepared struct {
	byName map[string]*planner.Prepared
}

// Len is the number of prepared statements tracked.
func (p *Prepared) Len() int { return len(p.byName) }

// Lookup returns the prepared statement called name, or nil.
func (p *Prepared) Lookup(name string) *planner.Prepared { return p.byName[name] }

// Forget drops the prepared statement called name: PostgreSQL replaced it
// behind the proxy's back.
func (p *Prepared) Forget(name string) { delete(p.byName, name) }

// Remember records the prepared statement st makes, if it is a PREPARE
// with calls.
func (p *Prepared) Remember(st *planner.Statement) {
	if st.Kind() != planner.SQLPrepare {
		return
	}
	prep := st.Prepared()
	if p.byName == nil {
		p.byName = make(map[string]*planner.Prepared)
	}
	p.byName[prep.Name] = prep
}

// Ran updates the names after part ran without error: a DEALLOCATE,
// DISCARD or plain PREPARE ends or replaces what it names.
func (p *Prepared) Ran(part planner.Part) {
	switch part.Forgets {
	case "":
	case "*":
		clear(p.byName)
	default:
		if !part.Calls { // a PREPARE with calls records its own
			delete(p.byName, part.Forgets)
		}
	}
}

// Mentions reports whether a statement's text may execute, replace or end
// one of the tracked statements. It costs nothing when none is tracked
// and does not allocate.
func (p *Prepared) Mentions(sql []byte) bool {
	if len(p.byName) == 0 {
		return false
	}
	for _, w := range [...]string{"execute", "prepare", "deallocate", "discard"} {
		if containsFold(sql, w) {
			return true
		}
	}
	return false
}

// Involved reports whether any of a Query's statements calls a function
// or involves a tracked prepared statement, so that the Query must run
// statement by statement rather than be relayed.
func (p *Prepared) Involved(parts []planner.Part) bool {
	for _, part := range parts {
		if part.Calls || p.byName[part.Execute] != nil || part.Forgets != "" && len(p.byName) > 0 {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case.
func containsFold(s []byte, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
