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
