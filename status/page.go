package status

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// refreshSeconds is how often the page reloads itself (a meta refresh: no
// script needed).
const refreshSeconds = 5

var funcs = template.FuncMap{
	"ts": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago": func(now time.Time, t *time.Time) string {
		if t == nil {
			return ""
		}
		d := now.Sub(*t)
		if d < 0 {
			return "in " + (-d).Round(time.Second).String()
		}
		return d.Round(time.Second).String() + " ago"
	},
	"until": func(now time.Time, t *time.Time) string {
		if t == nil {
			return ""
		}
		if d := t.Sub(now); d > 0 {
			return "in " + d.Round(time.Second).String()
		}
		return "due"
	},
	"pct": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f*100, 'f', 1, 64) + "%"
	},
	"str": func(s *string) string {
		if s == nil {
			return "—"
		}
		return *s
	},
	"ver": func(v *int32) string {
		if v == nil {
			return "none"
		}
		return "v" + itoa(int(*v))
	},
	"val": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmtFloat(*f)
	},
	"fmtTime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	// add places the SVG's legend swatches beside their anchors.
	"add": func(a, b float64) float64 { return a + b },
}

var pageTmpl = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>Flywheel status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2430; background: #fafbfc; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.6em 0 .5em; border-bottom: 1px solid #d8dde4; padding-bottom: .2em; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: .25em .7em; border: 1px solid #e1e5ea; text-align: left; vertical-align: top; }
th { background: #f0f3f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #6a7380; }
.err { color: #b42318; }
.big { font-size: 1.3em; font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plot { background: #fff; border: 1px solid #e1e5ea; padding: .5em; }
.plot h3 { font-size: 1em; margin: 0 0 .3em; }
svg text { font: 11px system-ui, sans-serif; fill: #6a7380; }
</style>
</head>
<body>
<h1>Flywheel</h1>
<div class="muted">as of {{fmtTime .S.Taken}} · reloads every {{.Refresh}} s</div>

<h2>Sessions</h2>
<p><span class="big" id="sessions">{{.S.Sessions.Total}}</span> client sessions:
{{.S.Sessions.Busy}} busy, {{.S.Sessions.Idle}} idle</p>
{{with .S.Sessions.Err}}<p class="err">{{.}}</p>{{end}}
{{if .S.Sessions.ByApp}}
<table>
<tr><th>application_name</th><th>active</th><th>in a model function</th><th>idle</th><th>idle in transaction</th><th>other</th></tr>
{{range .S.Sessions.ByApp}}<tr><td>{{if .App}}{{.App}}{{else}}<span class="muted">(none)</span>{{end}}</td>
<td class="num">{{.Active}}</td><td class="num">{{.Computing}}</td><td class="num">{{.Idle}}</td><td class="num">{{.IdleInTx}}</td><td class="num">{{.Other}}</td></tr>
{{end}}</table>
{{end}}

<h2>Models</h2>
{{with .S.ModelErr}}<p class="err">{{.}}</p>{{end}}
{{if .S.Models}}
<table id="models">
<tr><th>model</th><th>kind</th><th>deployed</th><th>versions</th><th>primary metric</th><th>last trained</th><th>refresh</th><th>next refresh</th><th>last error</th></tr>
{{range .S.Models}}<tr>
<td>{{.Name}}</td><td>{{.Kind}}</td><td>{{ver .Deployed}}</td><td class="num">{{.Versions}}</td>
<td>{{if .Metric}}{{.Metric}} = {{val .Value}}{{if .Fallback}} <span class="muted">(no holdout)</span>{{end}}{{else}}—{{end}}</td>
<td>{{ts .LastTrained}} <span class="muted">{{ago $.S.Taken .LastTrained}}</span></td>
<td>{{str .Refresh}}</td>
<td>{{ts .NextRefresh}} <span class="muted">{{until $.S.Taken .NextRefresh}}</span></td>
<td class="err">{{with .LastError}}{{.}}{{end}}</td>
</tr>{{end}}
</table>

<h2>Primary metric over versions</h2>
<p class="muted">Held-out metric of each version, in version order; the larger green dot is the deployed version, an orange one a challenger in an online trial. Purple squares, on the right-hand scale, are the online hit rates of the versions in a model's last decided trial.</p>
<div class="plots">
{{range .S.Models}}{{if .Plot}}<div class="plot">
<h3>{{.Name}} <span class="muted">{{.Metric}}{{if .Fallback}} (a training metric: trained without a holdout){{end}}</span></h3>
{{template "svg" .Plot}}
</div>
{{end}}{{end}}
</div>
{{else}}<p class="muted">No models yet: train one with flywheel.train(...).</p>
{{end}}

{{if .S.Trials}}
<h2>Online trials</h2>
<table id="trials">
<tr><th>model</th><th>champion</th><th>challenger</th><th>traffic</th><th>started</th><th>ends</th><th>champion hit rate</th><th>challenger hit rate</th><th>result</th></tr>
{{range .S.Trials}}<tr><td>{{.Model}}</td><td>{{ver .Champion}}</td><td>{{ver .Challenger}}</td><td class="num">{{pct .Traffic}}</td>
<td>{{ts .Started}}</td><td>{{ts .Ends}} <span class="muted">{{if not .Decided}}{{until $.S.Taken .Ends}}{{end}}</span></td>
<td class="num">{{pct .ChampionHitRate}} <span class="muted">{{with .ChampionDecisions}}of {{.}}{{end}}</span></td>
<td class="num">{{pct .ChallengerHitRate}} <span class="muted">{{with .ChallengerDecisions}}of {{.}}{{end}}</span></td>
<td>{{if .Decided}}{{str .Result}}{{else}}<span class="muted">running</span>{{end}}</td></tr>
{{end}}</table>
{{end}}

{{if .S.Streams}}
<h2>Streams</h2>
<table id="streams">
<tr>{{range .S.Streams.Columns}}<th>{{.}}</th>{{end}}{{if .S.Streams.Sparks}}<th>rows/s, last hour</th>{{end}}</tr>
{{range $i, $r := .S.Streams.Rows}}<tr>{{range $r}}<td>{{.}}</td>{{end}}{{if $.S.Streams.Sparks}}<td>{{with index $.S.Streams.Sparks $i}}<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img"><title>rows/s over the last hour, now {{.Last}}</title><polyline points="{{.Points}}" fill="none" stroke="#2563eb" stroke-width="1.5"/></svg>{{else}}<span class="muted">sampling…</span>{{end}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
{{with .S.StreamErr}}<h2>Streams</h2><p class="err">{{.}}</p>{{end}}

<h2>Last failed trainings</h2>
{{if .S.Failed}}
<table id="failures">
<tr><th>when</th><th>model</th><th>version</th><th>by</th><th>error</th></tr>
{{range .S.Failed}}<tr><td>{{fmtTime .At}}</td><td>{{.Model}}</td><td>v{{.Version}}</td>
<td>{{if .Refresh}}refresh{{else}}train{{end}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>
{{else}}<p class="muted">None.</p>
{{end}}
</body>
</html>
{{define "svg"}}<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img">
<line x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" stroke="#c5ccd4"/>
{{if .Line}}<line x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}" stroke="#c5ccd4"/>
<text x="{{.LabelX}}" y="{{.Top}}" text-anchor="end" dominant-baseline="middle">{{.YMax}}</text>
<text x="{{.LabelX}}" y="{{.Bottom}}" text-anchor="end" dominant-baseline="middle">{{.YMin}}</text>
<g class="legend"><line x1="{{.Left}}" y1="{{add .LegendY -4}}" x2="{{add .Left 14}}" y2="{{add .LegendY -4}}" stroke="#2563eb" stroke-width="2"/><circle cx="{{add .Left 7}}" cy="{{add .LegendY -4}}" r="3.5" fill="#2563eb"/><text x="{{add .Left 18}}" y="{{.LegendY}}">{{.Label}}</text></g>
{{end}}<text x="{{.Left}}" y="{{.LabelY}}" text-anchor="start">{{.XFirst}}</text>
{{if not .Single}}<text x="{{.Right}}" y="{{.LabelY}}" text-anchor="end">{{.XLast}}</text>{{end}}
{{with .Online}}<line x1="{{$.Right}}" y1="{{$.Top}}" x2="{{$.Right}}" y2="{{$.Bottom}}" stroke="#c5ccd4"/>
<text x="{{.LabelX}}" y="{{$.Top}}" text-anchor="start" dominant-baseline="middle">{{.YMax}}</text>
<text x="{{.LabelX}}" y="{{$.Bottom}}" text-anchor="start" dominant-baseline="middle">{{.YMin}}</text>
<g class="legend"><text x="{{add .LegendX -18}}" y="{{$.LegendY}}" text-anchor="end">online hit rate</text><line x1="{{add .LegendX -14}}" y1="{{add $.LegendY -4}}" x2="{{.LegendX}}" y2="{{add $.LegendY -4}}" stroke="#9333ea" stroke-width="2" stroke-dasharray="5 3"/><rect x="{{add .LegendX -10.5}}" y="{{add $.LegendY -7.5}}" width="7" height="7" fill="#9333ea"/></g>
{{end}}{{if .Line}}<polyline class="holdout" points="{{.Line}}" fill="none" stroke="#2563eb" stroke-width="2"/>
{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="{{if or .Deployed .Trial}}5{{else}}3.5{{end}}" fill="{{if .Deployed}}#16a34a{{else if .Trial}}#ea580c{{else}}#2563eb{{end}}"><title>{{.Label}}</title></circle>
{{end}}{{end}}{{with .Online}}{{if .Line}}<polyline class="online" points="{{.Line}}" fill="none" stroke="#9333ea" stroke-width="2" stroke-dasharray="5 3"/>
{{end}}{{range .Dots}}<rect x="-4" y="-4" width="8" height="8" fill="#9333ea" transform="translate({{.X}},{{.Y}})"><title>{{.Label}}</title></rect>
{{end}}{{end}}</svg>{{end}}
`))

// pageData is the template's input.
type pageData struct {
	S       *snapshot
	Refresh int
}

// page renders the status page from a fresh snapshot. It renders into a
// buffer first, so that a template error is a 500 and not half a page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	snap := s.snapshot(r.Context())
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pageData{S: snap, Refresh: refreshSeconds}); err != nil {
		s.log.Error("status: rendering the page", "err", err)
		http.Error(w, "rendering the status page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing from anywhere: say so to the browser too.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(buf.Bytes())
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 5, 64) }
