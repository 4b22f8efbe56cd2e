package catalog

import (
	"math"
	"slices"
	"testing"
)

// The seed's train and to_score tables (SEED_EXAMPLES.md section 8).
func seedTrain() *Relation {
	return textRelation([]InputColumn{{Name: "x1", Type: 23}, {Name: "x2", Type: 23}, {Name: "y", Type: 1700}},
		[]string{"10", "11", "4"}, []string{"11", "12", "5"}, []string{"12", "13", "6"})
}

func seedToScore() *Relation {
	return textRelation([]InputColumn{{Name: "id", Type: 20}, {Name: "x1", Type: 701}, {Name: "x2", Type: 701}},
		[]string{"7", "15", "16"}, []string{"8", "0", "0"})
}

func TestSGDRegressSeedExample(t *testing.T) {
	pred := seedToScore()
	res, err := runCall(t, SGDRegress(), map[string]any{"train": seedTrain(), "predict": pred})
	if err != nil {
		t.Fatal(err)
	}
	key := res.Columns[0]
	if key.Name != "id" || key.Type != 20 || key.From != pred.Columns[0] || !slices.Equal(key.Rows, []int{0, 1}) {
		t.Errorf("key column %+v does not pass id through", key.OutputColumn)
	}
	p := res.Columns[1]
	if p.Name != "prediction" || p.Type != 701 {
		t.Errorf("prediction column %+v", p.OutputColumn)
	}
	if math.Abs(p.Floats[0]-19.29666937250204) > 1e-12 {
		t.Errorf("prediction %.17g, want 19.29666937250204", p.Floats[0])
	}
	// At x = 0 the prediction is the intercept.
	if math.Abs(p.Floats[1]-0.05281820011515216) > 1e-12 {
		t.Errorf("intercept %.17g, want 0.05281820011515216", p.Floats[1])
	}
}

func TestSGDRegressOptions(t *testing.T) {
	base := map[string]any{"train": seedTrain(), "predict": seedToScore()}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	first, err := runCall(t, SGDRegress(), base)
	if err != nil {
		t.Fatal(err)
	}
	// Each option reaches the algorithm: changing it changes the answer.
	for _, c := range []struct {
		arg string
		v   any
	}{
		{"alpha", 0.5}, {"eta0", 0.001}, {"power_t", 0.5}, {"learning_rate", "constant"},
		{"penalty", "l1"}, {"epochs", int64(3)},
	} {
		res, err := runCall(t, SGDRegress(), with(c.arg, c.v))
		if err != nil {
			t.Fatalf("%s: %v", c.arg, err)
		}
		if res.Columns[1].Floats[0] == first.Columns[1].Floats[0] {
			t.Errorf("%s => %v did not change the prediction", c.arg, c.v)
		}
	}
	// Empty predict: no rows, no error.
	empty := textRelation([]InputColumn{{Name: "id", Type: 25}, {Name: "a", Type: 701}, {Name: "b", Type: 701}})
	res, err := runCall(t, SGDRegress(), with("predict", empty))
	if err != nil || res.Columns[0].Len() != 0 {
		t.Errorf("empty predict: %v, %v", res, err)
	}
}

func TestSGDRegressErrors(t *testing.T) {
	train, pred := seedTrain(), seedToScore()
	short := textRelation([]InputColumn{{Name: "id", Type: 20}, {Name: "x1", Type: 701}}, []string{"1", "2"})
	textTrain := textRelation([]InputColumn{{Name: "x1", Type: 25}, {Name: "y", Type: 701}}, []string{"a", "1"})
	nullY := textRelation([]InputColumn{{Name: "x1", Type: 23}, {Name: "x2", Type: 23}, {Name: "y", Type: 701}},
		[]string{"1", "2", "3"}, []string{"1", "2", "NULL"})
	emptyTrain := textRelation([]InputColumn{{Name: "x1", Type: 23}, {Name: "x2", Type: 23}, {Name: "y", Type: 701}})
	huge := textRelation([]InputColumn{{Name: "x1", Type: 701}, {Name: "x2", Type: 701}, {Name: "y", Type: 701}},
		[]string{"1e300", "1e300", "-1e300"}, []string{"-1e300", "1e300", "1e300"})
	for _, c := range []struct {
		name string
		vals map[string]any
		arg  string // "" for a TypeError
	}{
		{"predict shape", map[string]any{"train": train, "predict": short}, ""},
		{"text feature", map[string]any{"train": textTrain, "predict": short}, ""},
		{"null target", map[string]any{"train": nullY, "predict": pred}, "train"},
		{"empty train", map[string]any{"train": emptyTrain, "predict": pred}, "train"},
		{"overflow", map[string]any{"train": huge, "predict": pred, "learning_rate": "constant", "eta0": 10.0}, "train"},
		{"alpha", map[string]any{"train": train, "predict": pred, "alpha": -1.0}, "alpha"},
		{"eta0", map[string]any{"train": train, "predict": pred, "eta0": 0.0}, "eta0"},
		{"learning_rate", map[string]any{"train": train, "predict": pred, "learning_rate": "fast"}, "learning_rate"},
		{"penalty", map[string]any{"train": train, "predict": pred, "penalty": "l3"}, "penalty"},
		{"epochs", map[string]any{"train": train, "predict": pred, "epochs": int64(0)}, "epochs"},
		{"l1_ratio", map[string]any{"train": train, "predict": pred, "l1_ratio": 1.5}, "l1_ratio"},
	} {
		_, err := runCall(t, SGDRegress(), c.vals)
		checkCallError(t, c.name, err, c.arg, "")
	}
}
