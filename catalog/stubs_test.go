package catalog

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// The declared result columns that have a fixed type are the ones Columns
// computes, so the stubs list what a call returns.
func TestReturnsMatchColumns(t *testing.T) {
	i8, i4, f8, txt, date := InputColumn{"id", Int8.OID}, InputColumn{"c", Int4.OID}, InputColumn{"v", Float8.OID}, InputColumn{"t", Text.OID}, InputColumn{"ts", pgtype.DateOID}
	inputs := map[string][][]InputColumn{
		"kmeans": {{i8, f8}}, "kmeans_centers": {{i8, f8}},
		"holt_forecast": {{date, f8}}, "holt_fit": {{date, f8}},
		"nmf": {{i8, i4, f8}}, "recommend": {{i8, i4, f8}}, "similar_items": {{i8, txt}},
		"sgd_regress": {{f8, f8}, {i8, f8}},
	}
	for _, f := range BuiltinWithStreams(nil).Funcs() {
		out, err := f.Columns(inputs[f.Name])
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		types := map[string]uint32{}
		for _, c := range out {
			types[c.Name] = c.Type
		}
		for _, r := range f.Returns {
			if got, ok := types[r.Name]; r.Type != AnyType && (!ok || got != r.Type.OID) {
				t.Errorf("%s: declares %s %s, Columns gives %v", f.Name, r.Name, r.Type.Name, out)
			}
		}
	}
}

func TestStubReturns(t *testing.T) {
	c := Builtin()
	for name, want := range map[string]string{
		// No anyelement argument to resolve an anyelement result from.
		"nmf": `TABLE("row" text, col text, predicted double precision)`,
		// item is also an argument's name.
		"similar_items": "TABLE(result_item anyelement, similar_item anyelement, similarity double precision, rank integer)",
	} {
		f, _ := c.Lookup(name)
		if got := stubReturns(f); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}
