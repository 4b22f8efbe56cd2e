package functions

import (
	"context"
	"reflect"
	"testing"
)

// TestHoltModelsNonSeasonal: a single series without a seasonal component,
// the smallest a holt series encodes to, round-trips (the series count's
// bound once assumed more bytes per series than it takes).
func TestHoltModelsNonSeasonal(t *testing.T) {
	for _, opts := range []HoltOptions{{}, {Trend: ComponentAdd}, {Trend: ComponentAdd, Damped: true}} {
		m, err := FitHolt(context.Background(), []float64{1, 2, 4, 3, 5, 6}, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalHoltModels([]*HoltModel{m})
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalHoltModels(b)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], m) {
			t.Errorf("%+v: round trip: %v", opts, err)
		}
	}
}
