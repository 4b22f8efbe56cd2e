package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// loopSVG plots hit rate per version, the model's against the popularity
// baseline's, as a small self-contained SVG (hand-written: the plot is two
// lines, and the binary takes no plotting dependency for it).
func loopSVG(rounds []loopRound, cfg loopConfig) []byte {
	const (
		width, height          = 760, 400
		left, right, top, foot = 70, 200, 50, 60
		plotW, plotH           = width - left - right, height - top - foot
		pad                    = 24 // between the y axis and the first point, the last point and the plot's end
	)
	// The y axis runs from 0 to the next tenth above the highest rate.
	ymax := 0.1
	for _, r := range rounds {
		ymax = math.Max(ymax, math.Max(r.HitRate, r.BaseHitRate))
	}
	ymax = math.Ceil(ymax*10-1e-9) / 10
	x := func(i int) float64 {
		if len(rounds) == 1 {
			return left + plotW/2
		}
		return left + pad + float64(i)*(plotW-2*pad)/float64(len(rounds)-1)
	}
	y := func(v float64) float64 { return top + plotH*(1-v/ymax) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">
<rect width="100%%" height="100%%" fill="white"/>
<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>
`, width, height, width, height, left, html.EscapeString(fmt.Sprintf("flywheel demo loop: hit rate per version (%s, seed %d)", cfg.method, cfg.seed)))
	// Grid and y labels every tenth (every twentieth when the axis is short).
	step := 0.1
	if ymax <= 0.3 {
		step = 0.05
	}
	for v := 0.0; v <= ymax+1e-9; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>
<text x="%d" y="%.1f" text-anchor="end">%.2f</text>
`, left, y(v), left+plotW, y(v), left-8, y(v)+4, v)
	}
	for i, r := range rounds {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">v%d</text>
`, x(i), top+plotH+20, r.Version)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>
<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>
<text x="%d" y="%d" text-anchor="middle">model version (one simulated week each)</text>
<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">hit rate (hits per decision, 7 days)</text>
`, left, top, left, top+plotH, left, top+plotH, left+plotW, top+plotH,
		left+plotW/2, height-15, top+plotH/2, top+plotH/2)
	series := []struct {
		name, color, dash string
		rate              func(loopRound) float64
	}{
		{"model", "#1f77b4", "", func(r loopRound) float64 { return r.HitRate }},
		{"popularity baseline", "#ff7f0e", ` stroke-dasharray="6 4"`, func(r loopRound) float64 { return r.BaseHitRate }},
	}
	for k, s := range series {
		var pts bytes.Buffer
		for i, r := range rounds {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(s.rate(r)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5"%s points="%s"/>
`, s.color, s.dash, bytes.TrimSpace(pts.Bytes()))
		for i, r := range rounds {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>v%d %s: %.3f</title></circle>
`, x(i), y(s.rate(r)), s.color, r.Version, s.name, s.rate(r))
		}
		ly := top + 20 + 24*k
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/>
<text x="%d" y="%d">%s</text>
`, left+plotW+15, ly, left+plotW+40, ly, s.color, s.dash, left+plotW+46, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
