package httpapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// chart is a small SVG chart, computed here and drawn by the template
// ("chart"): rectangles and a polyline in a viewBox, no script, no inline
// style (the CSP allows neither), colours by CSS class.
type chart struct {
	Title  string
	Desc   string // what the chart shows, for screen readers
	Width  int
	Height int
	Bars   []rect
	Points string // polyline, "" for none
	Guide  *rect  // a horizontal guide line (a ceiling), nil for none
	Legend []legend
	From   string // the x axis' ends
	To     string
	Max    string // the y axis' top
	Empty  bool
}

type rect struct {
	X, Y, W, H string
	Class      string
	Label      string
}

type legend struct {
	Class, Name string
}

const chartW, chartH = 600, 120

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// seriesClass gives each webhook or event outcome its colour class.
func seriesClass(outcome string) string {
	switch outcome {
	case "accepted", "created", "updated":
		return "ok"
	case "duplicate", "unchanged":
		return "dup"
	case "ignored", "expired", "no_session":
		return "ign"
	case "unavailable", "transient_error":
		return "warn"
	}
	return "bad"
}

// stackedChart draws one stacked bar per minute of the series that pick
// takes from each sample.
func stackedChart(title, unit string, samples []Sample, pick func(Sample) map[string]float64) chart {
	c := chart{Title: title, Width: chartW, Height: chartH}
	names := map[string]bool{}
	peak := 0.0
	for _, s := range samples {
		total := 0.0
		for k, v := range pick(s) {
			names[k] = true
			total += v
		}
		peak = max(peak, total)
	}
	order := make([]string, 0, len(names))
	for k := range names {
		order = append(order, k)
	}
	slices.Sort(order)
	for _, k := range order {
		c.Legend = append(c.Legend, legend{Class: seriesClass(k), Name: k})
	}
	c.frame(samples, peak, unit)
	if peak == 0 {
		c.Empty = true
		return c
	}
	w := float64(chartW) / SampleWindow
	offset := SampleWindow - len(samples)
	var desc []string
	for i, s := range samples {
		y := float64(chartH)
		values := pick(s)
		total := 0.0
		for _, k := range order {
			v := values[k]
			if v == 0 {
				continue
			}
			total += v
			h := v / peak * (chartH - 4)
			y -= h
			c.Bars = append(c.Bars, rect{X: num(float64(offset+i) * w), Y: num(y), W: num(w * 0.85), H: num(h),
				Class: seriesClass(k), Label: fmt.Sprintf("%s: %g %s %s", minute(s), v, k, unit)})
		}
		if total > 0 {
			desc = append(desc, fmt.Sprintf("%s %g", minute(s), total))
		}
	}
	c.Desc = title + " per minute: " + strings.Join(desc, ", ")
	return c
}

// lineChart draws value over the samples, with a guide at ceiling (0: none).
func lineChart(title, unit string, samples []Sample, value func(Sample) float64, ceiling float64) chart {
	c := chart{Title: title, Width: chartW, Height: chartH}
	peak := ceiling
	for _, s := range samples {
		peak = max(peak, value(s))
	}
	c.frame(samples, peak, unit)
	if len(samples) == 0 || peak == 0 {
		c.Empty = true
		return c
	}
	w := float64(chartW) / SampleWindow
	offset := SampleWindow - len(samples)
	var pts, desc []string
	for i, s := range samples {
		v := value(s)
		y := chartH - v/peak*(chartH-4)
		pts = append(pts, num((float64(offset+i)+0.5)*w)+","+num(y))
		desc = append(desc, fmt.Sprintf("%s %g", minute(s), v))
	}
	if len(pts) == 1 { // one minute: a short level line, not a dot
		pts = append([]string{num(float64(offset-1)*w) + "," + strings.Split(pts[0], ",")[1]}, pts...)
	}
	c.Points = strings.Join(pts, " ")
	if ceiling > 0 {
		y := chartH - ceiling/peak*(chartH-4)
		c.Guide = &rect{X: "0", Y: num(y), W: num(chartW), H: "1", Class: "guide", Label: fmt.Sprintf("ceiling %g %s", ceiling, unit)}
		c.Legend = append(c.Legend, legend{Class: "guide", Name: fmt.Sprintf("ceiling %g %s", ceiling, unit)})
	}
	c.Legend = append([]legend{{Class: "line", Name: title}}, c.Legend...)
	c.Desc = title + ": " + strings.Join(desc, ", ")
	return c
}

func (c *chart) frame(samples []Sample, peak float64, unit string) {
	c.Max = fmt.Sprintf("%g %s", peak, unit)
	if len(samples) > 0 {
		c.From, c.To = minute(samples[0]), "now"
	}
}

func minute(s Sample) string { return s.Minute.UTC().Format("15:04") }

// hbar is one bar of a horizontal bar chart (attach rates).
type hbar struct {
	Label   string
	Value   string
	Y, W, H string
	TextY   string
}

// barsChart is a horizontal bar chart of shares from 0 to 1.
type barsChart struct {
	Title  string
	Desc   string
	Width  int
	Height int
	Bars   []hbar
}

func attachChart(title string, labels []string, shares []float64) barsChart {
	const rowH = 28
	c := barsChart{Title: title, Width: chartW, Height: rowH * max(1, len(labels))}
	var desc []string
	for i, l := range labels {
		pct := strconv.FormatFloat(100*shares[i], 'f', 1, 64) + "%"
		c.Bars = append(c.Bars, hbar{Label: l, Value: pct, Y: num(float64(i*rowH) + 14), W: num(shares[i] * 340), H: num(rowH - 16),
			TextY: num(float64(i*rowH) + 11)})
		desc = append(desc, l+" "+pct)
	}
	c.Desc = title + ": " + strings.Join(desc, ", ")
	return c
}

// ago is how long before now t was, in words: "3 min ago".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}
