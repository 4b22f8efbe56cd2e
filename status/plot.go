package status

import (
	"math"
	"strconv"
	"strings"
)

// plot is a model's primary metric over its versions, laid out for an
// inline SVG: no script, no library, nothing fetched.
type plot struct {
	W, H           int
	Left, Right    float64 // the plotting area's x range
	Top, Bottom    float64 // and y range
	LabelX, LabelY float64 // where the y labels end and the x labels sit
	Line           string  // polyline points
	Dots           []dot
	YMax, YMin     string
	XFirst, XLast  string
	Single         bool
}

type dot struct {
	X, Y     float64
	Label    string
	Deployed bool
	Trial    bool // serving a share of users in an online trial
}

const (
	plotW, plotH = 360, 140
	padLeft      = 64
	padRight     = 12
	padTop       = 12
	padBottom    = 24
)

// newPlot lays the points out in version order; nil when there is
// nothing to draw.
func newPlot(pts []point) *plot {
	if len(pts) == 0 {
		return nil
	}
	p := &plot{W: plotW, H: plotH, Left: padLeft, Right: plotW - padRight, Top: padTop, Bottom: plotH - padBottom,
		LabelX: padLeft - 6, LabelY: plotH - 6}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pt := range pts {
		lo, hi = math.Min(lo, pt.Value), math.Max(hi, pt.Value)
	}
	if hi-lo < 1e-12 {
		// A flat line sits in the middle rather than on an edge.
		pad := math.Max(math.Abs(hi)*0.05, 1e-6)
		lo, hi = lo-pad, hi+pad
	}
	first, last := pts[0].Version, pts[len(pts)-1].Version
	var line strings.Builder
	for _, pt := range pts {
		x := (p.Left + p.Right) / 2
		if last > first {
			x = p.Left + (p.Right-p.Left)*float64(pt.Version-first)/float64(last-first)
		}
		y := p.Bottom - (p.Bottom-p.Top)*(pt.Value-lo)/(hi-lo)
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(num(x) + "," + num(y))
		p.Dots = append(p.Dots, dot{X: x, Y: y, Deployed: pt.Status == "deployed", Trial: pt.Status == "trial",
			Label: "v" + strconv.Itoa(int(pt.Version)) + " " + pt.Status + ": " + strconv.FormatFloat(pt.Value, 'g', 5, 64)})
	}
	p.Line = line.String()
	p.Single = len(pts) == 1
	p.YMin, p.YMax = strconv.FormatFloat(lo, 'g', 4, 64), strconv.FormatFloat(hi, 'g', 4, 64)
	if len(p.YMin) > 9 || len(p.YMax) > 9 {
		// Keep labels inside the left margin.
		p.YMin, p.YMax = strconv.FormatFloat(lo, 'g', 2, 64), strconv.FormatFloat(hi, 'g', 2, 64)
	}
	p.XFirst, p.XLast = "v"+strconv.Itoa(int(first)), "v"+strconv.Itoa(int(last))
	return p
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
