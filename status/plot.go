package status

import (
	"math"
	"strconv"
	"strings"
)

// plot is a model's primary metric over its versions, laid out for an
// inline SVG: no script, no library, nothing fetched. Beside the held-out
// metric it can carry a second series, the versions' online hit rates,
// on a scale of its own at the right: the two are different measures
// (an NDCG or an RMSE against a share of decisions followed by a click),
// so one axis for both would misread either.
type plot struct {
	W, H           int
	Left, Right    float64 // the plotting area's x range
	Top, Bottom    float64 // and y range
	LabelX, LabelY float64 // where the left y labels end and the x labels sit
	LegendY        float64
	Label          string // the held-out series' legend
	Line           string // polyline points
	Dots           []dot
	YMax, YMin     string
	XFirst, XLast  string
	Single         bool
	Online         *series // nil: no decided online trial
}

// series is the online hit rates: its points, at the versions' x, and
// its right-hand scale, from zero (a rate has a natural zero, and with
// two points an axis fitted to them would make any gap look large).
type series struct {
	Line       string // empty with a single point
	Dots       []dot
	YMax, YMin string
	LabelX     float64 // where the right y labels start
	LegendX    float64 // where the legend ends (its swatch, after the text)
}

type dot struct {
	X, Y     float64
	Label    string
	Deployed bool
	Trial    bool // serving a share of users in an online trial
}

// online is one version's hit rate in a decided online trial.
type online struct {
	Version   int32
	Role      string // champion or challenger
	HitRate   float64
	Decisions *int64
}

const (
	plotW, plotH = 360, 150
	padLeft      = 64
	padRight     = 12
	padRightAxis = 48 // room for the online scale's labels
	padTop       = 26 // the legend sits above the plotting area
	padBottom    = 24
)

// newPlot lays the held-out points (label names them in the legend) and
// the online ones out in version order; nil when there is nothing to
// draw.
func newPlot(pts []point, label string, on []online) *plot {
	if len(pts) == 0 && len(on) == 0 {
		return nil
	}
	right := float64(plotW - padRight)
	if len(on) > 0 {
		right = plotW - padRightAxis
	}
	p := &plot{W: plotW, H: plotH, Left: padLeft, Right: right, Top: padTop, Bottom: plotH - padBottom,
		LabelX: padLeft - 6, LabelY: plotH - 6, LegendY: 11, Label: label}
	// One version axis for both series: a version can have an online
	// outcome without the plotted metric (a fallback metric it lacks).
	first, last := int32(math.MaxInt32), int32(math.MinInt32)
	for _, pt := range pts {
		first, last = min(first, pt.Version), max(last, pt.Version)
	}
	for _, o := range on {
		first, last = min(first, o.Version), max(last, o.Version)
	}
	x := func(v int32) float64 {
		if last > first {
			return p.Left + (p.Right-p.Left)*float64(v-first)/float64(last-first)
		}
		return (p.Left + p.Right) / 2
	}
	if len(pts) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, pt := range pts {
			lo, hi = math.Min(lo, pt.Value), math.Max(hi, pt.Value)
		}
		if hi-lo < 1e-12 {
			// A flat line sits in the middle rather than on an edge.
			pad := math.Max(math.Abs(hi)*0.05, 1e-6)
			lo, hi = lo-pad, hi+pad
		}
		var line strings.Builder
		for _, pt := range pts {
			x, y := x(pt.Version), p.Bottom-(p.Bottom-p.Top)*(pt.Value-lo)/(hi-lo)
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(num(x) + "," + num(y))
			p.Dots = append(p.Dots, dot{X: x, Y: y, Deployed: pt.Status == "deployed", Trial: pt.Status == "trial",
				Label: "v" + strconv.Itoa(int(pt.Version)) + " " + pt.Status + ": " + strconv.FormatFloat(pt.Value, 'g', 5, 64)})
		}
		p.Line = line.String()
		p.YMin, p.YMax = strconv.FormatFloat(lo, 'g', 4, 64), strconv.FormatFloat(hi, 'g', 4, 64)
		if len(p.YMin) > 9 || len(p.YMax) > 9 {
			// Keep labels inside the left margin.
			p.YMin, p.YMax = strconv.FormatFloat(lo, 'g', 2, 64), strconv.FormatFloat(hi, 'g', 2, 64)
		}
	}
	if len(on) > 0 {
		p.Online = onlineSeries(p, on, x)
	}
	p.Single = first == last
	p.XFirst, p.XLast = "v"+strconv.Itoa(int(first)), "v"+strconv.Itoa(int(last))
	return p
}

// onlineSeries lays the hit rates out on the right-hand scale, from 0 to
// a little above the highest (at most 100%).
func onlineSeries(p *plot, on []online, x func(int32) float64) *series {
	hi := 0.0
	for _, o := range on {
		hi = math.Max(hi, o.HitRate)
	}
	hi = math.Min(hi*1.1, 1)
	if hi <= 0 {
		hi = 1 // no hits at all: the points sit on the zero line
	}
	s := &series{LabelX: p.Right + 6, LegendX: float64(p.W) - 4, YMin: "0%", YMax: pct1(hi)}
	var line strings.Builder
	for _, o := range on {
		x, y := x(o.Version), p.Bottom-(p.Bottom-p.Top)*o.HitRate/hi
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(num(x) + "," + num(y))
		label := "v" + strconv.Itoa(int(o.Version)) + " online hit rate (" + o.Role + "): " + pct1(o.HitRate)
		if o.Decisions != nil {
			label += " of " + strconv.FormatInt(*o.Decisions, 10) + " decisions"
		}
		s.Dots = append(s.Dots, dot{X: x, Y: y, Label: label})
	}
	if len(on) > 1 {
		s.Line = line.String()
	}
	return s
}

func pct1(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
