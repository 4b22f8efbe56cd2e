package functions

import (
	"fmt"
	"time"
)

// TimeStep is the spacing of a regular sequence of timestamps, so that a
// forecast can continue it. Exactly one of Months, Days and Duration is
// set.
type TimeStep struct {
	// Months: calendar months per step (3 for quarters, 12 for years). The
	// day of the month is Day, or the month's last day when the month is
	// shorter (Day 31 means month-ends); the clock time stays the same.
	Months int
	Day    int
	// Days: calendar days per step (7 for weeks), same clock time in the
	// timestamp's own zone offset.
	Days int
	// Duration: a fixed elapsed time per step (hours, minutes, ...).
	Duration time.Duration
}

func (s TimeStep) String() string {
	switch {
	case s.Months > 0 && s.Day == 31:
		return fmt.Sprintf("%d month(s), month-ends", s.Months)
	case s.Months > 0:
		return fmt.Sprintf("%d month(s) on day %d", s.Months, s.Day)
	case s.Days > 0:
		return fmt.Sprintf("%d day(s)", s.Days)
	}
	return s.Duration.String()
}

// Advance returns t moved k steps forward.
func (s TimeStep) Advance(t time.Time, k int) time.Time {
	switch {
	case s.Months > 0:
		months := t.Year()*12 + int(t.Month()) - 1 + k*s.Months
		y, mo := months/12, time.Month(months%12+1)
		d := min(s.Day, daysIn(y, mo))
		return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	case s.Days > 0:
		return t.AddDate(0, 0, k*s.Days)
	}
	return t.Add(time.Duration(k) * s.Duration)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isMonthEnd(t time.Time) bool { return t.Day() == daysIn(t.Year(), t.Month()) }

func sameClock(a, b time.Time) bool {
	return a.Hour() == b.Hour() && a.Minute() == b.Minute() && a.Second() == b.Second() && a.Nanosecond() == b.Nanosecond()
}

// civilDay numbers a date's calendar day (in its own zone offset).
func civilDay(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// InferTimeStep finds the spacing of ts, sorted ascending, with at least
// two values. Calendar rules win over fixed durations: whole months with a
// consistent day of the month (month-ends stay month-ends: 2024-01-31,
// 2024-02-29, 2024-03-31), then whole days at the same clock time, then
// any fixed duration. If no rule fits every value, the error is an
// *InputError whose Row is the index in ts of the first value that breaks
// the rule the sequence follows longest; equal neighbours are reported as
// duplicates.
func InferTimeStep(ts []time.Time) (TimeStep, error) {
	if len(ts) < 2 {
		return TimeStep{}, inputErr("input", "the series has a single row; at least 2 are needed to infer the time spacing")
	}
	for i := 1; i < len(ts); i++ {
		if !ts[i].After(ts[i-1]) {
			return TimeStep{}, rowErr("input", i, "duplicate timestamp %s", ts[i].Format(time.DateTime))
		}
	}
	var cands []TimeStep
	months := func(t time.Time) int { return t.Year()*12 + int(t.Month()) }
	if dm := months(ts[1]) - months(ts[0]); dm > 0 {
		day := 0
		allEnd := true
		for _, t := range ts {
			day = max(day, t.Day())
			allEnd = allEnd && isMonthEnd(t)
		}
		if allEnd {
			day = 31
		}
		cands = append(cands, TimeStep{Months: dm, Day: day})
	}
	if dd := civilDay(ts[1]) - civilDay(ts[0]); dd > 0 && sameClock(ts[0], ts[1]) {
		cands = append(cands, TimeStep{Days: int(dd)})
	}
	cands = append(cands, TimeStep{Duration: ts[1].Sub(ts[0])})
	bad, worst := -1, TimeStep{}
	for _, c := range cands {
		i := 1
		for ; i < len(ts); i++ {
			if !c.Advance(ts[i-1], 1).Equal(ts[i]) {
				break
			}
		}
		if i == len(ts) {
			return c, nil
		}
		if i > bad {
			bad, worst = i, c
		}
	}
	return TimeStep{}, rowErr("input", bad, "irregular timestamps: %s is not one step (%s) after %s",
		ts[bad].Format(time.DateTime), worst, ts[bad-1].Format(time.DateTime))
}

// InferIntStep finds the constant positive step of an ascending integer
// sequence (at least two values); a value off the step is an *InputError
// with its index as Row.
func InferIntStep(xs []int64) (int64, error) {
	if len(xs) < 2 {
		return 0, inputErr("input", "the series has a single row; at least 2 are needed to infer the time spacing")
	}
	step := xs[1] - xs[0]
	for i := 1; i < len(xs); i++ {
		d := xs[i] - xs[i-1]
		if d == 0 {
			return 0, rowErr("input", i, "duplicate time value %d", xs[i])
		}
		if d != step {
			return 0, rowErr("input", i, "irregular time values: %d is not one step (%d) after %d", xs[i], step, xs[i-1])
		}
	}
	return step, nil
}
