package catalog

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"testing"
)

// TestLearnUserCFEqualsUnion: learning ratings into a user_cf model gives
// the state training on the union gives, byte for byte: new users and
// items (some sorting between the stored ones, numerically), and new
// ratings of rated pairs replacing the old.
func TestLearnUserCFEqualsUnion(t *testing.T) {
	cols := []InputColumn{{Name: "u", Type: 23}, {Name: "i", Type: 23}, {Name: "v", Type: 701}}
	r := rand.New(rand.NewSource(3))
	type key struct{ u, i int }
	base := map[key]string{}
	for len(base) < 400 {
		base[key{2 * r.Intn(60), 3 * r.Intn(20)}] = fmt.Sprint(1 + r.Intn(5))
	}
	fresh := map[key]string{}
	for len(fresh) < 80 {
		fresh[key{r.Intn(130), r.Intn(70)}] = fmt.Sprint(1 + r.Intn(5))
	}
	rows := func(m map[key]string) [][]string {
		var out [][]string
		for k, v := range m {
			out = append(out, []string{fmt.Sprint(k.u), fmt.Sprint(k.i), v})
		}
		return out
	}
	union := map[key]string{}
	for k, v := range base {
		union[k] = v
	}
	for k, v := range fresh {
		union[k] = v
	}
	m := trainModel(t, "recommend", map[string]any{"ratings": textRelation(cols, rows(base)...)})
	got, err := learnRecommend(context.Background(), m, textRelation(cols, rows(fresh)...))
	if err != nil {
		t.Fatal(err)
	}
	k := modelKinds()["recommend"]
	call := &Call{Func: k.fn(), Values: map[string]any{"ratings": textRelation(cols, rows(union)...)}}
	for _, a := range call.Func.Args {
		if !a.Relation {
			call.Values[a.Name] = a.Default
		}
	}
	f, err := k.fit(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.state, f.state) {
		t.Fatalf("learned state (%d bytes) differs from the union's (%d bytes)", len(got.state), len(f.state))
	}
}
