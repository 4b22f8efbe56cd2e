package demo

import (
	"reflect"
	"testing"
	"time"
)

// TestShop: the simulation's customers are the warehouse's (their tastes
// decide Likes), its draws are fixed by the seeds, and a week's events
// stay inside the week.
func TestShop(t *testing.T) {
	s, err := NewShop(1, DefaultSeed, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(1, DefaultSeed)
	cu := m.customerAt(41)
	// Likes follows the customer's main factor: every product of it is
	// liked more than every product of a factor the customer does not care for.
	var mainMin, otherMax float64 = 1, 0
	for j := range m.products {
		p := m.productAt(j)
		l, err := s.Likes(cu.id, p.id)
		if err != nil || l < 0 || l > 1 {
			t.Fatalf("Likes(%d, %d) = %g, %v", cu.id, p.id, l, err)
		}
		switch p.factor {
		case cu.mainF:
			mainMin = min(mainMin, l)
		case cu.secondF:
		default:
			otherMax = max(otherMax, l)
		}
	}
	if !(mainMin > 0.7 && otherMax < 0.05) {
		t.Errorf("customer %d: main factor's least liked %.3f, other factors' most liked %.3f", cu.id, mainMin, otherMax)
	}
	if _, err := s.Likes(0, 1); err == nil {
		t.Error("Likes of customer 0: want an error")
	}

	c1, err := s.Cohort(50)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := s.Cohort(50)
	seen := map[int32]bool{}
	for _, id := range c1 {
		if seen[id] || id < 1 || int(id) > s.Customers() {
			t.Fatalf("cohort has %d twice or out of range: %v", id, c1)
		}
		seen[id] = true
	}
	if !reflect.DeepEqual(c1, c2) {
		t.Error("the same seeds gave two cohorts")
	}
	other, _ := NewShop(1, DefaultSeed, 2)
	if c3, _ := other.Cohort(50); reflect.DeepEqual(c1, c3) {
		t.Error("loop seeds 1 and 2 gave the same cohort")
	}

	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	shown := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	var events, ratings int
	for _, id := range c1 {
		ev, rt, err := s.Week(3, id, shown, start)
		if err != nil {
			t.Fatal(err)
		}
		again, rt2, _ := s.Week(3, id, shown, start)
		if !reflect.DeepEqual(ev, again) || !reflect.DeepEqual(rt, rt2) {
			t.Fatalf("customer %d: the same week twice gave different events", id)
		}
		for i, e := range ev {
			if !e.At.After(start) || e.At.After(start.Add(7*24*time.Hour)) || i > 0 && e.At.Before(ev[i-1].At) {
				t.Fatalf("customer %d: event %+v outside the week or out of order", id, e)
			}
		}
		rated := map[int32]bool{}
		for _, r := range rt {
			if rated[r.Product] || r.Rating < 1 || r.Rating > 5 {
				t.Fatalf("customer %d: rating %+v repeated or out of range", id, r)
			}
			rated[r.Product] = true
		}
		events += len(ev)
		ratings += len(rt)
	}
	if events == 0 || ratings == 0 {
		t.Errorf("50 customers' week: %d events, %d ratings", events, ratings)
	}
	if _, _, err := s.Week(1, 1, nil, start.Add(time.Hour)); err == nil {
		t.Error("a week starting at 01:00: want an error")
	}
}
