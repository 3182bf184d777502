package dashboard

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/hookrelay/hookrelay/internal/store"
)

// chartView is the hourly chart of an endpoint's attempts, drawn on the
// server as inline SVG: no script, no image requests, and the same
// numbers as a table for screen readers.
type chartView struct {
	SVG       template.HTML
	Summary   string
	Succeeded int
	Failed    int
	Delivered int
	Exhausted int
	Rows      []store.HourlyCount
}

// Chart geometry, in SVG user units; the SVG scales to its box.
const (
	chartW, chartH = 720, 180
	padL, padB     = 36, 22
	padT, padR     = 8, 4
)

func buildChart(rows []store.HourlyCount, window string) chartView {
	v := chartView{Rows: rows}
	peak := 0
	for _, r := range rows {
		v.Succeeded += r.Successes
		v.Failed += r.Attempts - r.Successes
		v.Delivered += r.Delivered
		v.Exhausted += r.Failed
		peak = max(peak, r.Attempts)
	}
	period := "24 hours"
	if window == "7d" {
		period = "7 days"
	}
	v.Summary = fmt.Sprintf("Attempts per hour over the last %s: %d succeeded, %d failed; %d deliveries delivered, %d gave up.",
		period, v.Succeeded, v.Failed, v.Delivered, v.Exhausted)
	scale := niceCeil(max(peak, 2)) // at least 2, so the middle gridline is a whole number
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	n := max(len(rows), 1)
	slot := plotW / float64(n)
	bar := slot * 0.8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title">`, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">%s</title>`, template.HTMLEscapeString(v.Summary))
	// Axis and gridlines at 0, half and the top of the scale.
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(padT) + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="axis" text-anchor="end">%d</text>`, padL-4, y+4, int(float64(scale)*f))
	}
	for i, r := range rows {
		x := float64(padL) + slot*float64(i) + (slot-bar)/2
		failed := r.Attempts - r.Successes
		hOK := plotH * float64(r.Successes) / float64(scale)
		hFail := plotH * float64(failed) / float64(scale)
		base := float64(padT) + plotH
		label := fmt.Sprintf("%s UTC: %d succeeded, %d failed", r.Hour.UTC().Format("Jan 2 15:00"), r.Successes, failed)
		fmt.Fprintf(&b, `<g><title>%s</title>`, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" class="ok"/>`, x, base-hOK, bar, hOK)
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" class="fail"/>`, x, base-hOK-hFail, bar, hFail)
		b.WriteString(`</g>`)
		// A time label every 6 hours (24 h) or every day (7 d).
		every := 6
		if len(rows) > 48 {
			every = 24
		}
		if i%every == 0 {
			format := "15:00"
			if every == 24 {
				format = "Jan 2"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis">%s</text>`, x, chartH-6, r.Hour.UTC().Format(format))
		}
	}
	b.WriteString(`</svg>`)
	v.SVG = template.HTML(b.String()) // built here from numbers and escaped text only
	return v
}

// niceCeil rounds a bar chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	p := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		p *= 10
	}
}
