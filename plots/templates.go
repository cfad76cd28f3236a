package plots

import (
	htmltemplate "html/template"
	texttemplate "text/template"
)

var htmlTmpl = htmltemplate.Must(htmltemplate.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iobench report</title>
<style>
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 24px 32px; color: #1a1a1a; max-width: 1320px; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
h3 { margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
.na { color: #888; font-style: italic; }
.cb { background: repeating-linear-gradient(45deg, #fff3cd, #fff3cd 4px, #ffe08a 4px, #ffe08a 8px); }
.tag { font-size: 11px; font-weight: bold; color: #8a5a00; white-space: nowrap; }
.skip { color: #991b1b; } .err { color: #b00020; font-weight: bold; }
.problems { border: 2px solid #b00020; background: #fdecee; padding: 8px 16px; }
.warn { border: 1px solid #c99a00; background: #fff8e1; padding: 8px 16px; }
.synthetic { border: 3px dashed #b00020; padding: 8px 16px; font-weight: bold; color: #b00020; }
.sig { color: #0a6b2b; font-weight: bold; } .nsig { color: #555; }
table.summary td { font-size: 12px; max-width: 190px; }
figure { margin: 10px 0 24px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; }
ul.verdicts li { margin: 2px 0; font-size: 14px; }
.note { font-size: 12px; color: #555; }
</style>
</head>
<body>
<h1>iobench report</h1>
<p class="note">Inputs: {{join .Inputs ", "}}. Headline numbers are medians of repetitions; whiskers and ranges are min–max.
Significance: two-sided Mann–Whitney U at α = 0.05 between the best backend and the runner-up (as benchstat).
Results of different machines are shown side by side and never averaged.</p>
{{if .Synthetic}}<p class="synthetic">These inputs are SYNTHETIC FIXTURES (see the environment notes): not measurements.</p>{{end}}
{{if .Problems}}<div class="problems"><h2>Bad input (not rendered)</h2><ul>{{range .Problems}}<li><code>{{.}}</code></li>{{end}}</ul></div>{{end}}
{{if .Warnings}}<div class="warn"><b>Warnings</b><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></div>{{end}}

<h2 id="summary">Recommendations</h2>
<p class="note">Per workload and machine, the best backend on each metric with its margin over the runner-up and the Mann–Whitney p-value.
<span class="sig">Green</span>: significant at α = 0.05; grey: no significant difference (a valid answer). Hover a cell for the full sentence; every workload section below spells them out.</p>
<table class="summary">
<tr><th class="l">workload</th><th class="l">machine</th>{{range columns}}<th class="l">{{.}}</th>{{end}}</tr>
{{range .Summary}}<tr><td class="l"><a href="#{{.WorkloadID}}">{{.Workload}}</a></td><td class="l">{{.Host}}</td>
{{range .Cells}}<td class="l {{if .Significant}}sig{{else}}nsig{{end}}"{{if .Present}} title="{{.Text}}"{{end}}>{{.Short}}</td>{{end}}</tr>
{{end}}</table>

<h2 id="machines">Machines</h2>
<table>
<tr><th class="l">host</th><th class="l">os / kernel</th><th class="l">cpu</th><th>cores</th><th>GOMAXPROCS</th><th>loops</th><th class="l">go</th><th class="l">pinning (server / client)</th><th class="l">commit</th><th class="l">runs</th><th class="l">notes</th></tr>
{{range .Hosts}}<tr><td class="l">{{.Label}}</td><td class="l">{{.Env.OS}}/{{.Env.Arch}} {{.Env.Kernel}}{{if .Env.UnderWine}} <span class="tag">under Wine: not Windows numbers</span>{{end}}</td>
<td class="l">{{.Env.CPUModel}}</td><td>{{.Env.Cores}}</td><td>{{.Env.GOMAXPROCS}}</td><td>{{.Env.Loops}}</td><td class="l">{{.Env.GoVersion}}</td>
<td class="l">{{cpus .Env.Pinning.ServerCPUs}} / {{cpus .Env.Pinning.ClientCPUs}}</td><td class="l">{{.Env.IobenchCommit}}</td>
<td class="l">{{range .Runs}}{{.}}<br>{{end}}</td><td class="l">{{.Env.Notes}}</td></tr>
{{end}}</table>

{{if .Skipped}}<h2 id="skipped">Skipped</h2>
<table><tr><th class="l">host</th><th class="l">backend</th><th class="l">scenario</th><th class="l">reason</th></tr>
{{range .Skipped}}<tr><td class="l">{{.Host}}</td><td class="l">{{.Backend}}</td><td class="l">{{.Scenario}}</td><td class="l skip">{{.Reason}}</td></tr>
{{end}}</table>{{end}}

{{range .Workloads}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{range .Hosts}}<h3>{{.Host}}</h3>
<table>
<tr><th class="l">backend</th><th>msgs/s</th><th>min–max</th><th class="l">bottleneck</th><th>p50</th><th>p99</th><th>p99.9</th><th>server CPU/msg</th><th>syscalls/msg</th><th>ctx sw/msg</th><th>RSS/conn</th><th>GC cycles / pause</th><th class="l">verify</th><th>reps</th><th class="l">note</th></tr>
{{range .Rows}}{{if .Skipped}}<tr><td class="l">{{.Backend}}</td><td class="l skip" colspan="13">skipped: {{.Skipped}}</td><td class="l">{{.Note}}</td></tr>
{{else}}<tr{{if .ClientBound}} class="cb"{{end}}><td class="l">{{.Backend}}</td><td>{{.Msgs}}{{if .ClientBound}} <span class="tag">client-bound</span>{{end}}</td><td>{{.Spread}}</td><td class="l">{{.Bottleneck}}</td>
<td>{{.P50}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.CPU}}</td><td{{if eq .Sys "n/a"}} class="na"{{end}}>{{.Sys}}</td><td{{if eq .Ctx "n/a"}} class="na"{{end}}>{{.Ctx}}</td><td>{{.RSS}}</td><td>{{.GC}}</td>
<td class="l">{{.Verify}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}}</td><td>{{.Reps}}</td><td class="l">{{.Note}}</td></tr>
{{end}}{{end}}</table>
{{if .Verdicts}}<ul class="verdicts">{{range .Verdicts}}<li class="{{if .Significant}}sig{{else}}nsig{{end}}">{{.Text}}</li>{{end}}</ul>{{end}}
{{end}}
{{range .Figures}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}
{{end}}

{{if .Extra}}<h2 id="memory">Memory against connection count</h2>
{{range .Extra}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}{{end}}
<p class="note">Client-bound (hatched bars, shaded rows): the load generator saturated before the server; the throughput is a lower bound of the server's, not a ranking.
n/a: not measured (e.g. no perf/strace, or not observable under Wine) — never zero.</p>
</body>
</html>
`))

var mdTmpl = texttemplate.Must(texttemplate.New("md").Funcs(texttemplate.FuncMap(funcs)).Parse(`# iobench report

Inputs: {{join .Inputs ", "}}. Medians of repetitions; significance: two-sided Mann–Whitney U, α = 0.05, best vs runner-up. Machines are never averaged together.
{{if .Synthetic}}
**These inputs are SYNTHETIC FIXTURES: not measurements.**
{{end}}{{if .Problems}}
## Bad input (not rendered)
{{range .Problems}}
- ` + "`{{.}}`" + `{{end}}
{{end}}{{if .Warnings}}
## Warnings
{{range .Warnings}}
- {{.}}{{end}}
{{end}}
## Recommendations

Best backend per metric, margin over the runner-up, Mann–Whitney U p (α = 0.05; "no sig. difference" is a valid answer).

| workload | machine |{{range columns}} {{.}} |{{end}}
|---|---|{{range columns}}---|{{end}}
{{range .Summary}}| {{.Workload}} | {{.Host}} |{{range .Cells}} {{if .Significant}}**{{mdrow .Short}}**{{else}}{{mdrow .Short}}{{end}} |{{end}}
{{end}}
## Machines

| host | os / kernel | cpu | cores | GOMAXPROCS | pinning server / client | go | notes |
|---|---|---|---|---|---|---|---|
{{range .Hosts}}| {{.Label}} | {{.Env.OS}}/{{.Env.Arch}} {{mdrow .Env.Kernel}}{{if .Env.UnderWine}} (Wine: not Windows numbers){{end}} | {{.Env.CPUModel}} | {{.Env.Cores}} | {{.Env.GOMAXPROCS}} | {{cpus .Env.Pinning.ServerCPUs}} / {{cpus .Env.Pinning.ClientCPUs}} | {{.Env.GoVersion}} | {{mdrow .Env.Notes}} |
{{end}}{{if .Skipped}}
## Skipped

| host | backend | scenario | reason |
|---|---|---|---|
{{range .Skipped}}| {{.Host}} | {{.Backend}} | {{.Scenario}} | {{mdrow .Reason}} |
{{end}}{{end}}{{range .Workloads}}
## {{.Title}}
{{range .Hosts}}
### {{.Host}}

| backend | msgs/s | min–max | bottleneck | p50 | p99 | server CPU/msg | syscalls/msg | ctx sw/msg | RSS/conn | verify |
|---|---|---|---|---|---|---|---|---|---|---|
{{range .Rows}}{{if .Skipped}}| {{.Backend}} | skipped: {{mdrow .Skipped}} | | | | | | | | | |
{{else}}| {{.Backend}}{{if .Note}} ({{mdrow .Note}}){{end}} | {{.Msgs}}{{if .ClientBound}} **client-bound**{{end}} | {{.Spread}} | {{.Bottleneck}} | {{.P50}} | {{.P99}} | {{.CPU}} | {{.Sys}} | {{.Ctx}} | {{.RSS}} | {{.Verify}}{{if .Error}} **{{mdrow .Error}}**{{end}} |
{{end}}{{end}}
{{range .Verdicts}}- {{.Text}}
{{end}}{{end}}
{{range .Figures}}{{.MDLine}}
{{end}}{{end}}{{if .Extra}}
## Memory against connection count
{{range .Extra}}
{{.MDLine}}
{{end}}{{end}}`))
