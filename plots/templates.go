package plots

import (
	htmltemplate "html/template"
	texttemplate "text/template"
)

// method is the paragraph stating how verdicts are made; the HTML and Markdown share it.
const method = `Headline numbers are medians of repetitions (interrupted and failed repetitions excluded). ` +
	`At equal offered load every label is loaded open loop at the same rates (fractions of the workload's common capacity), interleaved; ` +
	`a rate a label cannot sustain (achieved < 95 % of offered, or errors) is marked saturated there and compared as such, never averaged in. ` +
	`A difference is called significant only if the two-sided Mann–Whitney U p over repetitions, corrected for every other verdict of its run (Holm's method over the run's tests, so that a run makes a false verdict in at most 5 % of runs), is below 0.05 AND its relative difference of medians exceeds the A/A spread: ` +
	`the largest relative difference of medians between the A/A pair (one backend measured twice under two labels, e.g. netstd and netstd#aa) over the points of that comparison. ` +
	`When the A/A pair itself differs significantly on a metric (its tests corrected together in the same way), the machine was too noisy for verdicts on it. The A/A twin is never a winner. ` +
	`A percentile is shown with its 95 % confidence interval (order statistics) and its sample count n, or as "too few samples" when fewer than 100 samples lie beyond it. ` +
	`Results of different machines are shown side by side and never averaged; runs of one machine are compared verdict by verdict only when their speed indices are within 20 %.`

var htmlTmpl = htmltemplate.Must(htmltemplate.New("report").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iobench report</title>
<style>
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 24px 32px; color: #1a1a1a; max-width: 1320px; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
h3 { margin-bottom: 6px; } h4 { margin: 14px 0 4px; font-size: 14px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
.na { color: #888; font-style: italic; }
.cb { background: repeating-linear-gradient(45deg, #fff3cd, #fff3cd 4px, #ffe08a 4px, #ffe08a 8px); }
.tag { font-size: 11px; font-weight: bold; color: #8a5a00; white-space: nowrap; }
.skip { color: #991b1b; } .err { color: #b00020; font-weight: bold; }
.problems { border: 2px solid #b00020; background: #fdecee; padding: 8px 16px; }
.interrupted { border: 3px solid #b00020; background: #fdecee; padding: 8px 16px; font-size: 15px; color: #7a0016; }
.warn { border: 1px solid #c99a00; background: #fff8e1; padding: 8px 16px; }
.synthetic { border: 3px dashed #b00020; padding: 8px 16px; font-weight: bold; color: #b00020; }
.sig { color: #0a6b2b; font-weight: bold; } .nsig { color: #555; }
.noisy { color: #8a5a00; background: #fff3cd; }
tr.sat td { background: #f1e9f9; } .few { color: #8a5a00; font-style: italic; }
tr.aa td { color: #555; } tr.unsteady td.st { background: #fff3cd; color: #8a5a00; font-weight: bold; }
table.summary td { font-size: 12px; max-width: 190px; } table.rates td { font-size: 12px; max-width: 230px; text-align: left; }
figure { margin: 10px 0 24px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; }
ul.verdicts li { margin: 2px 0; font-size: 14px; } ul.flags li { margin: 2px 0; font-size: 13px; color: #8a5a00; }
.note { font-size: 12px; color: #555; }
</style>
</head>
<body>
<h1>iobench report</h1>
<p class="note">Inputs: {{join .Inputs ", "}}. {{method}}</p>
{{if .Synthetic}}<p class="synthetic">These inputs are SYNTHETIC FIXTURES (see the environment notes): not measurements.</p>{{end}}
{{if .Interrupted}}<div class="interrupted"><b>Interrupted run</b><ul>{{range .Interrupted}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
{{if .Problems}}<div class="problems"><h2>Bad input (not rendered)</h2><ul>{{range .Problems}}<li><code>{{.}}</code></li>{{end}}</ul></div>{{end}}
{{if .Warnings}}<div class="warn"><b>Warnings</b><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></div>{{end}}

{{if .LadderSummary}}<h2 id="equal-load">Recommendations at equal offered load</h2>
<p class="note">Per workload and run, per metric: at which offered rates (as % of the common capacity) which label wins significantly, where no difference is significant, and where two curves cross (×).
<span class="sig">Green</span>: some rate has a significant winner; <span class="noisy">amber</span>: too noisy (the A/A pair differed significantly). Hover a cell for the full sentence.</p>
<table class="summary">
<tr><th class="l">workload</th><th class="l">run</th>{{range ladderColumns}}<th class="l">{{.}}</th>{{end}}</tr>
{{range .LadderSummary}}<tr><td class="l"><a href="#{{.WorkloadID}}">{{.Workload}}</a></td><td class="l">{{.Host}}</td>
{{range .Cells}}<td class="l {{if .Noisy}}noisy{{else if .Significant}}sig{{else}}nsig{{end}}"{{if .Present}} title="{{.Text}}"{{end}}>{{.Short}}</td>{{end}}</tr>
{{end}}</table>{{end}}

{{if .Summary}}<h2 id="summary">Recommendations{{if .LadderSummary}}: other workloads{{end}}</h2>
<p class="note">Per workload and run, the best label on each metric with its margin over the runner-up and the Mann–Whitney p-value.
<span class="sig">Green</span>: significant; grey: no significant difference (a valid answer). Hover a cell for the full sentence; every workload section below spells them out.</p>
<table class="summary">
<tr><th class="l">workload</th><th class="l">run</th>{{range columns}}<th class="l">{{.}}</th>{{end}}</tr>
{{range .Summary}}<tr><td class="l"><a href="#{{.WorkloadID}}">{{.Workload}}</a></td><td class="l">{{.Host}}</td>
{{range .Cells}}<td class="l {{if .Noisy}}noisy{{else if .Significant}}sig{{else}}nsig{{end}}"{{if .Present}} title="{{.Text}}"{{end}}>{{.Short}}</td>{{end}}</tr>
{{end}}</table>{{end}}

{{if .Across}}<h2 id="across">Across runs</h2>
<p class="note">Runs of the same machine, verdict by verdict (ladder points matched by their fraction of capacity). agree: same winner, significant in every run; confirmed: significant in one run among its own tests, and in the other the single test of the same pair (Holm over the confirmations asked, A/A rule included) confirms it, same winner and sign; one significant, one not: not confirmed, not one to act on; opposite: significant winners differ; neither significant.</p>
{{range .Across}}<h3>{{.Host}}</h3>
{{range .Groups}}<p class="{{if .Replicat}}sig{{else}}err{{end}}">{{.Verdict}}</p>{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<table class="rates"><tr><th class="l">workload</th><th class="l">metric</th><th class="l">rate</th>{{range .Runs}}<th class="l">{{.}}</th>{{end}}<th class="l">agreement</th></tr>
{{range .Rows}}<tr><td>{{.Workload}}</td><td>{{.Metric}}</td><td>{{.Point}}</td>{{range .Cells}}<td>{{.}}</td>{{end}}<td class="{{.Class}}">{{.Agreement}}</td></tr>
{{end}}</table>{{end}}
{{if .Apart}}<div class="warn"><b>Not compared (shown side by side)</b><ul>{{range .Apart}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
{{end}}{{end}}

<h2 id="machines">Machines and runs</h2>
<table>
<tr><th class="l">host</th><th class="l">topology</th><th class="l">os / kernel</th><th class="l">cpu</th><th>cores</th><th>GOMAXPROCS</th><th>loops</th><th class="l">go</th><th class="l">pinning (server / client)</th><th class="l">commit</th><th class="l">runs</th><th class="l">notes</th></tr>
{{range .Hosts}}<tr><td class="l">{{.Label}}</td><td class="l">{{.Env.Topology.Describe}}</td><td class="l">{{.Env.OS}}/{{.Env.Arch}} {{.Env.Kernel}}{{if .Env.UnderWine}} <span class="tag">under Wine: not Windows numbers</span>{{end}}</td>
<td class="l">{{.Env.CPUModel}}</td><td>{{.Env.Cores}}</td><td>{{.Env.GOMAXPROCS}}</td><td>{{.Env.Loops}}</td><td class="l">{{.Env.GoVersion}}</td>
<td class="l">{{cpus .Env.Pinning.ServerCPUs}} / {{cpus .Env.Pinning.ClientCPUs}}</td><td class="l">{{.Env.IobenchCommit}}</td>
<td class="l">{{range .Runs}}{{.}}<br>{{end}}</td><td class="l">{{.Env.Notes}}</td></tr>
{{end}}</table>
<table>
<tr><th class="l">run</th><th class="l">file</th><th class="l">suite</th><th class="l">when</th><th class="l">speed index</th><th class="l">notes</th></tr>
{{range .Runs}}<tr><td class="l">{{.Label}}</td><td class="l">{{.Path}}</td><td class="l">{{.Suite}}</td><td class="l">{{.When}}</td><td class="l">{{.Speed}}</td>
<td class="l">{{if .Interrupted}}<span class="err">INTERRUPTED</span> {{end}}{{if .Tests}}{{.Tests}} {{end}}{{range .Drift}}<span class="tag">{{.}}</span> {{end}}</td></tr>
{{end}}</table>

{{if .Skipped}}<h2 id="skipped">Skipped</h2>
<table><tr><th class="l">run</th><th class="l">backend</th><th class="l">scenario</th><th class="l">reason</th></tr>
{{range .Skipped}}<tr><td class="l">{{.Host}}</td><td class="l">{{.Backend}}</td><td class="l">{{.Scenario}}</td><td class="l skip">{{.Reason}}</td></tr>
{{end}}</table>{{end}}

{{range .Families}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{range .Figures}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}
{{range .Sections}}<h3>{{.Source}}</h3>
<p class="note">{{.Capacity}}</p>
{{if .Flags}}<ul class="flags">{{range .Flags}}<li>{{.}}</li>{{end}}</ul>{{end}}
<ul class="verdicts">{{range .Summary}}<li class="{{if .Noisy}}noisy{{else if .Significant}}sig{{else}}nsig{{end}}">{{.Text}}</li>{{end}}</ul>
<h4>Verdict at each rate</h4>
<table class="rates"><tr><th class="l">metric</th>{{range .Points}}<th class="l">{{.}}</th>{{end}}</tr>
{{range .Verdicts}}<tr><td>{{.Metric}}</td>{{range .Cells}}<td class="{{if .Bad}}noisy{{else if .Sig}}sig{{else}}nsig{{end}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table>
<h4>A/A calibration</h4>
<p class="note">{{.AANote}} Each cell: the twin's relative difference of medians from its base and the Mann–Whitney p. A/A spread: the largest |difference| over the rates.</p>
{{if .AA}}<table class="rates"><tr><th class="l">metric</th>{{range .Points}}<th class="l">{{.}}</th>{{end}}<th class="l">A/A spread</th></tr>
{{range .AA}}<tr><td>{{.Metric}}</td>{{range .Cells}}<td class="{{if .Bad}}noisy{{else}}nsig{{end}}">{{.Text}}</td>{{end}}<td class="{{if .Bad}}noisy{{else}}nsig{{end}}">{{.Extra}}{{if .Bad}}: too noisy for verdicts{{end}}</td></tr>
{{end}}</table>{{end}}
<h4>Figures at each rate</h4>
<table>
<tr><th class="l">label</th><th class="l">offered</th><th>achieved</th><th>p50 [95 % CI]</th><th>p99 [95 % CI]</th><th>p99.9 [95 % CI]</th><th>n</th><th>server CPU/msg</th><th>syscalls/msg</th><th>ctx sw/msg</th><th class="l">steady</th><th>reps</th><th class="l">verify</th><th class="l">note</th></tr>
{{range .Rows}}<tr class="{{if .Saturated}}sat{{end}}{{if .AA}} aa{{end}}{{if .Unsteady}} unsteady{{end}}"><td class="l">{{.Label}}</td><td class="l">{{.Offered}}</td>
{{if .Miss}}<td class="l na" colspan="12">{{.Achieved}}</td>{{else}}<td>{{.Achieved}}{{if .Saturated}} <span class="err">SATURATED</span>{{end}}</td>
<td{{if .TooFew50}} class="few"{{end}}>{{.P50}}</td><td{{if .TooFew99}} class="few"{{end}}>{{.P99}}</td><td{{if .TooFew999}} class="few"{{end}}>{{.P999}}</td><td>{{.N}}</td>
<td>{{.CPU}}</td><td{{if eq .Sys "n/a"}} class="na"{{end}}>{{.Sys}}</td><td{{if eq .Ctx "n/a"}} class="na"{{end}}>{{.Ctx}}</td><td class="l st">{{.Steady}}</td><td>{{.Reps}}</td>
<td class="l">{{.Verify}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}}</td><td class="l">{{.Note}}</td>{{end}}</tr>
{{end}}</table>
{{if .CapRows}}<h4>Capacity (closed loop) — secondary</h4>
<p class="note">Closed-loop maximum throughput: each label sets its own load here, so its costs are not comparable across labels; it is shown as capacity only, never as the basis of a verdict at equal load.</p>
<table>
<tr><th class="l">label</th><th>msgs/s</th><th>min–max</th><th class="l">bottleneck</th><th>p50 [95 % CI]</th><th>p99 [95 % CI]</th><th>n</th><th>reps</th><th class="l">verify</th></tr>
{{range .CapRows}}<tr{{if .ClientBound}} class="cb"{{end}}><td class="l">{{.Backend}}</td><td>{{.Msgs}}{{if .ClientBound}} <span class="tag">client-bound</span>{{end}}</td><td>{{.Spread}}</td><td class="l">{{.Bottleneck}}</td><td>{{.P50}}</td><td>{{.P99}}</td><td>{{.N}}</td><td>{{.Reps}}</td><td class="l">{{.Verify}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}}</td></tr>
{{end}}</table>
{{with .CapVerdict}}<ul class="verdicts"><li class="{{if .Noisy}}noisy{{else if .Significant}}sig{{else}}nsig{{end}}">{{.Text}}</li></ul>{{end}}{{end}}
{{end}}
{{range .CapFigures}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}
{{end}}

{{if .Variants}}<h2 id="variants">App variants beside plain framed: what logging and encryption cost</h2>
<p class="note">Each variant ran in the same rounds as plain framed on every backend, at the same offered rates (one common capacity over both apps). Added = variant − plain server CPU per message (its relative change); p99 change likewise. <span class="sig">Green</span>: significant (Mann–Whitney p &lt; 0.05 and beyond the A/A spread of the twin's plain result at that point); otherwise hover for why not.</p>
{{range .Variants}}<h3 id="{{.ID}}">{{.Title}} — {{.Source}}</h3>
<p class="note">{{.Note}}</p>
<table class="rates"><tr><th class="l">label</th><th class="l">offered</th><th class="l">server CPU/msg plain</th><th class="l">variant</th><th class="l">added</th><th class="l">p99 plain</th><th class="l">variant</th><th class="l">p99 change</th><th class="l">log</th></tr>
{{range .Rows}}<tr{{if .AA}} class="aa"{{end}}><td class="l">{{.Label}}</td><td class="l">{{.Point}}</td><td>{{.CPUPlain}}</td><td>{{.CPUVariant}}</td><td class="{{if .AddedSig}}sig{{else}}nsig{{end}}" title="{{.AddedWhy}}">{{.Added}}</td>
<td>{{.P99Plain}}</td><td>{{.P99Variant}}</td><td class="{{if .P99Sig}}sig{{else}}nsig{{end}}" title="{{.P99Why}}">{{.P99D}}</td><td class="l">{{.Log}}</td></tr>
{{end}}</table>
{{end}}{{end}}

{{range .Workloads}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{range .Hosts}}<h3>{{.Host}}</h3>
<table>
<tr><th class="l">backend</th><th>msgs/s</th><th>min–max</th><th class="l">bottleneck</th><th>p50 [95 % CI]</th><th>p99 [95 % CI]</th><th>p99.9 [95 % CI]</th><th>n</th><th>server CPU/msg</th><th>syscalls/msg</th><th>ctx sw/msg</th><th>RSS/conn</th><th>GC cycles / pause</th><th class="l">verify</th><th>reps</th><th class="l">note</th></tr>
{{range .Rows}}{{if .Skipped}}<tr><td class="l">{{.Backend}}</td><td class="l skip" colspan="14">skipped: {{.Skipped}}</td><td class="l">{{.Note}}</td></tr>
{{else}}<tr{{if .ClientBound}} class="cb"{{end}}><td class="l">{{.Backend}}</td><td>{{.Msgs}}{{if .ClientBound}} <span class="tag">client-bound</span>{{end}}</td><td>{{.Spread}}</td><td class="l">{{.Bottleneck}}</td>
<td>{{.P50}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.N}}</td><td>{{.CPU}}</td><td{{if eq .Sys "n/a"}} class="na"{{end}}>{{.Sys}}</td><td{{if eq .Ctx "n/a"}} class="na"{{end}}>{{.Ctx}}</td><td>{{.RSS}}</td><td>{{.GC}}</td>
<td class="l">{{.Verify}}{{if .Error}} <span class="err">{{.Error}}</span>{{end}}{{if .Unsteady}} <span class="tag">{{.Steady}}</span>{{end}}</td><td>{{.Reps}}</td><td class="l">{{.Note}}</td></tr>
{{end}}{{end}}</table>
{{if .Verdicts}}<ul class="verdicts">{{range .Verdicts}}<li class="{{if .Noisy}}noisy{{else if .Significant}}sig{{else}}nsig{{end}}">{{.Text}}</li>{{end}}</ul>{{end}}
{{end}}
{{range .Figures}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}
{{end}}

{{if .Extra}}<h2 id="memory">Memory against connection count</h2>
{{range .Extra}}<figure>{{.Img}}<figcaption>{{.Caption}} — <a href="{{.Name}}.svg">{{.Name}}.svg</a>, <a href="{{.Name}}.png">{{.Name}}.png</a></figcaption></figure>
{{end}}{{end}}
<p class="note">Client-bound (hatched bars, shaded rows): the load generator saturated before the server; the throughput is a lower bound of the server's, not a ranking.
n/a: not measured (e.g. no perf/strace, or not observable under Wine) — never zero. "(no CI)": the run did not record the percentile's sample count (older runs).</p>
</body>
</html>
`))

var mdTmpl = texttemplate.Must(texttemplate.New("md").Funcs(texttemplate.FuncMap(funcs)).Parse(`# iobench report

Inputs: {{join .Inputs ", "}}. {{method}}
{{if .Synthetic}}
**These inputs are SYNTHETIC FIXTURES: not measurements.**
{{end}}{{if .Interrupted}}
## Interrupted run
{{range .Interrupted}}
- **{{.}}**{{end}}
{{end}}{{if .Problems}}
## Bad input (not rendered)
{{range .Problems}}
- ` + "`{{.}}`" + `{{end}}
{{end}}{{if .Warnings}}
## Warnings
{{range .Warnings}}
- {{.}}{{end}}
{{end}}{{if .LadderSummary}}
## Recommendations at equal offered load

Per metric: at which offered rates (% of the common capacity) which label wins significantly (bold: some rate does), "n.s." where no difference is significant, × where two curves cross; "too noisy": the A/A pair itself differed significantly.

| workload | run |{{range ladderColumns}} {{.}} |{{end}}
|---|---|{{range ladderColumns}}---|{{end}}
{{range .LadderSummary}}| {{.Workload}} | {{.Host}} |{{range .Cells}} {{if .Significant}}**{{mdrow .Short}}**{{else}}{{mdrow .Short}}{{end}} |{{end}}
{{end}}{{end}}{{if .Summary}}
## Recommendations{{if .LadderSummary}}: other workloads{{end}}

Best label per metric, margin over the runner-up, Mann–Whitney U p (α = 0.05; "no sig. difference" is a valid answer).

| workload | run |{{range columns}} {{.}} |{{end}}
|---|---|{{range columns}}---|{{end}}
{{range .Summary}}| {{.Workload}} | {{.Host}} |{{range .Cells}} {{if .Significant}}**{{mdrow .Short}}**{{else}}{{mdrow .Short}}{{end}} |{{end}}
{{end}}{{end}}{{if .Across}}
## Across runs
{{range .Across}}
### {{.Host}}
{{range .Groups}}
{{if .Replicat}}{{.Verdict}}{{else}}**{{.Verdict}}**{{end}}{{if .Note}} ({{.Note}}){{end}}

| workload | metric | rate |{{range .Runs}} {{.}} |{{end}} agreement |
|---|---|---|{{range .Runs}}---|{{end}}---|
{{range .Rows}}| {{.Workload}} | {{.Metric}} | {{.Point}} |{{range .Cells}} {{mdrow .}} |{{end}} {{.Agreement}} |
{{end}}{{end}}{{range .Apart}}
- Not compared: {{.}}{{end}}
{{end}}{{end}}
## Machines and runs

| host | topology | os / kernel | cpu | cores | GOMAXPROCS | pinning server / client | go | notes |
|---|---|---|---|---|---|---|---|---|
{{range .Hosts}}| {{.Label}} | {{mdrow .Env.Topology.Describe}} | {{.Env.OS}}/{{.Env.Arch}} {{mdrow .Env.Kernel}}{{if .Env.UnderWine}} (Wine: not Windows numbers){{end}} | {{.Env.CPUModel}} | {{.Env.Cores}} | {{.Env.GOMAXPROCS}} | {{cpus .Env.Pinning.ServerCPUs}} / {{cpus .Env.Pinning.ClientCPUs}} | {{.Env.GoVersion}} | {{mdrow .Env.Notes}} |
{{end}}
| run | file | suite | when | speed index | notes |
|---|---|---|---|---|---|
{{range .Runs}}| {{.Label}} | {{.Path}} | {{.Suite}} | {{.When}} | {{.Speed}} | {{if .Interrupted}}**INTERRUPTED** {{end}}{{if .Tests}}{{.Tests}} {{end}}{{range .Drift}}{{.}}; {{end}}|
{{end}}{{if .Skipped}}
## Skipped

| run | backend | scenario | reason |
|---|---|---|---|
{{range .Skipped}}| {{.Host}} | {{.Backend}} | {{.Scenario}} | {{mdrow .Reason}} |
{{end}}{{end}}{{range .Families}}
## {{.Title}}

{{range .Figures}}{{.MDLine}}
{{end}}{{range .Sections}}
### {{.Source}}

{{.Capacity}}
{{range .Flags}}
- ⚠ {{.}}{{end}}
{{range .Summary}}
- {{if .Noisy}}⚠ {{end}}{{.Text}}{{end}}

Verdict at each rate:

| metric |{{range .Points}} {{.}} |{{end}}
|---|{{range .Points}}---|{{end}}
{{range .Verdicts}}| {{.Metric}} |{{range .Cells}} {{if .Sig}}**{{mdrow .Text}}**{{else}}{{mdrow .Text}}{{end}} |{{end}}
{{end}}
A/A calibration: {{.AANote}}
{{if .AA}}
| metric |{{range .Points}} {{.}} |{{end}} A/A spread |
|---|{{range .Points}}---|{{end}}---|
{{range .AA}}| {{.Metric}} |{{range .Cells}} {{mdrow .Text}} |{{end}} {{.Extra}}{{if .Bad}} **too noisy for verdicts**{{end}} |
{{end}}{{end}}
| label | offered | achieved | p50 [95 % CI] | p99 [95 % CI] | p99.9 [95 % CI] | n | server CPU/msg | syscalls/msg | ctx sw/msg | steady | reps | verify |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
{{range .Rows}}| {{.Label}} | {{.Offered}} |{{if .Miss}} {{.Achieved}} | | | | | | | | | | |{{else}} {{.Achieved}}{{if .Saturated}} **SATURATED**{{end}} | {{.P50}} | {{.P99}} | {{.P999}} | {{.N}} | {{.CPU}} | {{.Sys}} | {{.Ctx}} | {{if .Unsteady}}**{{.Steady}}**{{else}}{{.Steady}}{{end}} | {{.Reps}} | {{.Verify}}{{if .Error}} **{{mdrow .Error}}**{{end}} |{{end}}
{{end}}{{if .CapRows}}
Capacity (closed loop) — secondary: each label sets its own load here; never the basis of a verdict at equal load.

| label | msgs/s | min–max | bottleneck | p50 [95 % CI] | p99 [95 % CI] | n | reps |
|---|---|---|---|---|---|---|---|
{{range .CapRows}}| {{.Backend}} | {{.Msgs}}{{if .ClientBound}} **client-bound**{{end}} | {{.Spread}} | {{.Bottleneck}} | {{.P50}} | {{.P99}} | {{.N}} | {{.Reps}} |
{{end}}{{with .CapVerdict}}
- {{.Text}}
{{end}}{{end}}{{end}}
{{range .CapFigures}}{{.MDLine}}
{{end}}{{end}}{{range .Variants}}
## {{.Title}} — {{.Source}}

{{.Note}} Added = variant − plain; "(p ≥ 0.05 …)" or "(within the A/A spread …)" marks a change that is not significant.

| label | offered | server CPU/msg plain | variant | added | p99 plain | variant | p99 change | log |
|---|---|---|---|---|---|---|---|---|
{{range .Rows}}| {{.Label}} | {{.Point}} | {{.CPUPlain}} | {{.CPUVariant}} | {{.Added}}{{if not .AddedSig}} ({{.AddedWhy}}){{end}} | {{.P99Plain}} | {{.P99Variant}} | {{.P99D}}{{if not .P99Sig}} ({{.P99Why}}){{end}} | {{.Log}} |
{{end}}{{end}}{{range .Workloads}}
## {{.Title}}
{{range .Hosts}}
### {{.Host}}

| backend | msgs/s | min–max | bottleneck | p50 [95 % CI] | p99 [95 % CI] | p99.9 [95 % CI] | n | server CPU/msg | syscalls/msg | ctx sw/msg | RSS/conn | verify | reps |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{{range .Rows}}{{if .Skipped}}| {{.Backend}} | skipped: {{mdrow .Skipped}} | | | | | | | | | | | | |
{{else}}| {{.Backend}}{{if .Note}} ({{mdrow .Note}}){{end}} | {{.Msgs}}{{if .ClientBound}} **client-bound**{{end}} | {{.Spread}} | {{.Bottleneck}} | {{.P50}} | {{.P99}} | {{.P999}} | {{.N}} | {{.CPU}} | {{.Sys}} | {{.Ctx}} | {{.RSS}} | {{.Verify}}{{if .Error}} **{{mdrow .Error}}**{{end}}{{if .Unsteady}} **{{.Steady}}**{{end}} | {{.Reps}} |
{{end}}{{end}}
{{range .Verdicts}}- {{.Text}}
{{end}}{{end}}
{{range .Figures}}{{.MDLine}}
{{end}}{{end}}{{if .Extra}}
## Memory against connection count
{{range .Extra}}
{{.MDLine}}
{{end}}{{end}}`))
