package status

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// A model with a decided trial gets a second series, the online hit
// rates, on a right-hand scale of its own and in the legend; one
// without keeps the single held-out line.
func TestStatusPlotOnline(t *testing.T) {
	pts := []point{{1, "challenger", 0.09}, {2, "challenger", 0.08}, {3, "deployed", 0.07}}
	n1, n3 := int64(1345), int64(520)
	trials := []trial{{Model: "recs", Champion: ptr(int32(1)), Challenger: ptr(int32(3)), Decided: ptr(time.Now()),
		ChampionHitRate: ptr(0.0416), ChampionDecisions: &n1, ChallengerHitRate: ptr(0.2), ChallengerDecisions: &n3}}
	on := onlineOf(trials, "recs")
	if len(on) != 2 || on[0].Version != 1 || on[1].Version != 3 || on[1].Role != "challenger" {
		t.Fatalf("online points %+v", on)
	}
	p := newPlot(pts, "holdout ndcg_at_10", on)
	if p.Online == nil || len(p.Online.Dots) != 2 || p.Online.Line == "" {
		t.Fatalf("no online series: %+v", p.Online)
	}
	// The same version sits at the same x in both series; the rates'
	// scale runs from 0% to a little above the best.
	if p.Online.Dots[0].X != p.Dots[0].X || p.Online.Dots[1].X != p.Dots[2].X {
		t.Errorf("online x %v, %v; held-out x %v, %v", p.Online.Dots[0].X, p.Online.Dots[1].X, p.Dots[0].X, p.Dots[2].X)
	}
	if p.Online.YMin != "0%" || p.Online.YMax != "22.0%" || math.Abs(p.Online.Dots[1].Y-(p.Top+(p.Bottom-p.Top)*(1-0.2/0.22))) > 1e-9 {
		t.Errorf("online scale %s..%s, challenger at y %v", p.Online.YMin, p.Online.YMax, p.Online.Dots[1].Y)
	}
	if p.Right+padRightAxis != plotW {
		t.Errorf("no room for the right-hand axis: right edge %v", p.Right)
	}

	// A running trial, another model's trial, a trial that could not be
	// judged: no online points.
	running := []trial{{Model: "recs", Champion: ptr(int32(1)), Challenger: ptr(int32(3))},
		{Model: "other", Champion: ptr(int32(1)), Challenger: ptr(int32(2)), Decided: ptr(time.Now()), ChampionHitRate: ptr(0.1)},
		{Model: "failed", Champion: ptr(int32(1)), Challenger: ptr(int32(2)), Decided: ptr(time.Now()), Result: ptr("failed: no events")}}
	for _, name := range []string{"recs", "failed"} {
		if on := onlineOf(running, name); len(on) != 0 {
			t.Errorf("%s: online points %+v from an undecided or unjudged trial", name, on)
		}
	}
	single := newPlot(pts, "holdout ndcg_at_10", nil)
	if single.Online != nil || single.Right != plotW-padRight {
		t.Errorf("a plot without trials has an online series or a right-hand margin: %+v", single)
	}

	var buf bytes.Buffer
	snap := &snapshot{Taken: time.Now(), Trials: trials, Models: []model{
		{Name: "recs", Kind: "recommend", Metric: "ndcg_at_10", Points: pts, Plot: p},
		{Name: "segments", Kind: "kmeans", Metric: "inertia_per_row", Points: pts, Plot: single}}}
	if err := pageTmpl.Execute(&buf, pageData{S: snap, Refresh: refreshSeconds}); err != nil {
		t.Fatal(err)
	}
	body := buf.String()
	recs := body[strings.Index(body, "<h3>recs"):strings.Index(body, "<h3>segments")]
	segs := body[strings.Index(body, "<h3>segments"):]
	segs = segs[:strings.Index(segs, "</svg>")]
	for _, want := range []string{`<polyline class="holdout"`, `<polyline class="online"`, ">holdout ndcg_at_10<", ">online hit rate<",
		">22.0%<", ">0%<", "v1 online hit rate (champion): 4.2% of 1345 decisions", "v3 online hit rate (challenger): 20.0% of 520 decisions"} {
		if !strings.Contains(recs, want) {
			t.Errorf("the recs plot lacks %q:\n%s", want, recs)
		}
	}
	if n := strings.Count(recs, "<polyline"); n != 2 {
		t.Errorf("the recs plot has %d series, want 2", n)
	}
	if strings.Contains(segs, "online") || strings.Count(segs, "<polyline") != 1 {
		t.Errorf("the segments plot, with no trial, is not a single series:\n%s", segs)
	}
}

func ptr[T any](v T) *T { return &v }
