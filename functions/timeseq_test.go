package functions

import (
	"testing"
	"time"
)

func mustTimes(t *testing.T, layout string, vals ...string) []time.Time {
	t.Helper()
	out := make([]time.Time, len(vals))
	for i, v := range vals {
		tm, err := time.Parse(layout, v)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tm
	}
	return out
}

func TestInferTimeStepContinues(t *testing.T) {
	const d, dt = time.DateOnly, time.DateTime
	cases := []struct {
		name   string
		layout string
		in     []string
		want   []string
	}{
		{"month-ends through leap February", d,
			[]string{"2023-10-31", "2023-11-30", "2023-12-31"},
			[]string{"2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"}},
		{"seed example month-ends", d,
			[]string{"2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
				"2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31"},
			[]string{"2024-01-31", "2024-02-29", "2024-03-31"}},
		{"month starts", d, []string{"2023-11-01", "2023-12-01"}, []string{"2024-01-01", "2024-02-01"}},
		{"mid-month", d, []string{"2023-11-15", "2023-12-15"}, []string{"2024-01-15"}},
		{"day 30 clamps in February", d, []string{"2023-11-30", "2023-12-30"}, []string{"2024-01-30", "2024-02-29", "2024-03-30"}},
		{"quarter-ends", d, []string{"2023-06-30", "2023-09-30", "2023-12-31"}, []string{"2024-03-31", "2024-06-30"}},
		{"years", d, []string{"2021-07-01", "2022-07-01", "2023-07-01"}, []string{"2024-07-01"}},
		{"leap-day years keep month-ends", d, []string{"2022-02-28", "2023-02-28"}, []string{"2024-02-29", "2025-02-28"}},
		{"days", d, []string{"2024-02-27", "2024-02-28"}, []string{"2024-02-29", "2024-03-01"}},
		{"weeks", d, []string{"2024-01-01", "2024-01-08", "2024-01-15"}, []string{"2024-01-22", "2024-01-29"}},
		{"hours", dt, []string{"2024-01-01 22:00:00", "2024-01-01 23:00:00"}, []string{"2024-01-02 00:00:00", "2024-01-02 01:00:00"}},
		{"monthly at a clock time", dt, []string{"2024-01-31 09:30:00", "2024-02-29 09:30:00"}, []string{"2024-03-31 09:30:00"}},
	}
	for _, c := range cases {
		ts := mustTimes(t, c.layout, c.in...)
		step, err := InferTimeStep(ts)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for k, w := range c.want {
			got := step.Advance(ts[len(ts)-1], k+1).Format(c.layout)
			if got != w {
				t.Errorf("%s (%s): step %d = %s, want %s", c.name, step, k+1, got, w)
			}
		}
	}
}

func TestInferTimeStepIrregular(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		row  int
	}{
		{"gap", []string{"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"}, 3},
		{"month-end then mid-month", []string{"2024-01-31", "2024-02-29", "2024-03-15"}, 2},
		{"duplicate", []string{"2024-01-01", "2024-01-02", "2024-01-02"}, 2},
	}
	for _, c := range cases {
		_, err := InferTimeStep(mustTimes(t, time.DateOnly, c.in...))
		ie, ok := AsInputError(err)
		if !ok || ie.Row != c.row {
			t.Errorf("%s: error %v, want an *InputError at row index %d", c.name, err, c.row)
		}
	}
	if _, err := InferTimeStep(mustTimes(t, time.DateOnly, "2024-01-01")); err == nil {
		t.Error("one timestamp: no error")
	}
}

func TestInferIntStep(t *testing.T) {
	step, err := InferIntStep([]int64{2019, 2020, 2021})
	if err != nil || step != 1 {
		t.Errorf("step %d, %v", step, err)
	}
	if step, err := InferIntStep([]int64{-10, 0, 10}); err != nil || step != 10 {
		t.Errorf("step %d, %v", step, err)
	}
	for _, c := range []struct {
		in  []int64
		row int
	}{{[]int64{1, 2, 4}, 2}, {[]int64{1, 1}, 1}} {
		_, err := InferIntStep(c.in)
		if ie, ok := AsInputError(err); !ok || ie.Row != c.row {
			t.Errorf("%v: error %v, want row %d", c.in, err, c.row)
		}
	}
}

// FuzzInferTimeStep: random sorted timestamps never panic, and an
// inferred step reproduces every value from the one before.
func FuzzInferTimeStep(f *testing.F) {
	f.Add([]byte{31, 28, 31, 30}, uint8(0))
	f.Add([]byte{7, 7, 7}, uint8(1))
	f.Add([]byte{1, 2, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, gaps []byte, unit uint8) {
		if len(gaps) > 64 {
			gaps = gaps[:64]
		}
		ts := []time.Time{time.Date(2023, 1, 31, 0, 0, 0, 0, time.UTC)}
		for _, g := range gaps {
			last := ts[len(ts)-1]
			var next time.Time
			switch unit % 3 {
			case 0:
				next = last.AddDate(0, 0, int(g))
			case 1:
				next = last.Add(time.Duration(g) * time.Hour)
			default:
				next = time.Date(last.Year(), last.Month()+time.Month(g%13), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
			}
			if !next.After(last) {
				next = last.AddDate(0, 0, 1)
			}
			ts = append(ts, next)
		}
		step, err := InferTimeStep(ts)
		if err != nil {
			if _, ok := AsInputError(err); !ok {
				t.Fatalf("non-input error %v", err)
			}
			return
		}
		for i := 1; i < len(ts); i++ {
			if got := step.Advance(ts[i-1], 1); !got.Equal(ts[i]) {
				t.Fatalf("step %v: %v -> %v, want %v", step, ts[i-1], got, ts[i])
			}
		}
	})
}
