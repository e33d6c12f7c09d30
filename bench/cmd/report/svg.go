package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one named line or bar colour of a chart.
type series struct {
	name   string
	values []float64
}

var palette = [...]string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948"}

const (
	chartW, chartH           = 760, 360
	marginL, marginR         = 70, 20
	marginT, marginB         = 40, 90
	plotW, plotH             = chartW - marginL - marginR, chartH - marginT - marginB
	svgHeader                = `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">` + "\n"
	svgBackground            = `<rect width="100%" height="100%" fill="white"/>` + "\n"
	minLogValue      float64 = 1e-9
)

// scale maps values to plot heights, linearly from 0 or logarithmically.
type scale struct {
	log      bool
	lo, hi   float64
	unit     string
	fmtValue func(float64) string
}

func newScale(all []float64, log bool, unit string, fmtValue func(float64) string) scale {
	s := scale{log: log, unit: unit, fmtValue: fmtValue, lo: math.Inf(1), hi: math.Inf(-1)}
	for _, v := range all {
		if log && v <= 0 {
			continue
		}
		s.lo, s.hi = math.Min(s.lo, v), math.Max(s.hi, v)
	}
	if math.IsInf(s.hi, -1) {
		s.lo, s.hi = 0, 1
	}
	if log {
		s.lo = math.Pow(10, math.Floor(math.Log10(math.Max(s.lo, minLogValue))))
		s.hi = math.Pow(10, math.Ceil(math.Log10(math.Max(s.hi, s.lo*10))))
		if s.hi <= s.lo {
			s.hi = s.lo * 10
		}
		return s
	}
	s.lo = 0
	if s.hi <= 0 {
		s.hi = 1
	}
	s.hi *= 1.1
	return s
}

// y returns the distance of v from the plot's bottom.
func (s scale) y(v float64) float64 {
	if s.log {
		if v <= 0 {
			return 0
		}
		return plotH * (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	}
	return plotH * (v - s.lo) / (s.hi - s.lo)
}

func (s scale) ticks() []float64 {
	var out []float64
	if s.log {
		for v := s.lo; v <= s.hi*1.0001; v *= 10 {
			out = append(out, v)
		}
		return out
	}
	for k := 0; k <= 5; k++ {
		out = append(out, s.hi*float64(k)/5)
	}
	return out
}

func svgStart(b *strings.Builder, title string, sc scale, legend []series) {
	fmt.Fprintf(b, svgHeader, chartW, chartH, chartW, chartH)
	b.WriteString(svgBackground)
	fmt.Fprintf(b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
	for _, t := range sc.ticks() {
		y := float64(marginT+plotH) - sc.y(t)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, y, marginL+plotW, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-4, y+4, html.EscapeString(sc.fmtValue(t)))
	}
	fmt.Fprintf(b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`+"\n",
		marginT+plotH/2, marginT+plotH/2, html.EscapeString(sc.unit))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", marginL, marginT+plotH, marginL+plotW, marginT+plotH)
	for i, s := range legend {
		// Three entries per row, rows from the bottom up.
		x := marginL + 10 + (i%3)*200
		y := chartH - 16*((len(legend)+2)/3-i/3)
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, y, palette[i%len(palette)], x+14, y+9, html.EscapeString(s.name))
	}
}

// barChart draws grouped bars: one group per label, one bar per series.
func barChart(title string, labels []string, ss []series, sc scale) string {
	var b strings.Builder
	svgStart(&b, title, sc, ss)
	group := float64(plotW) / float64(max(len(labels), 1))
	bar := group * 0.8 / float64(max(len(ss), 1))
	for g, label := range labels {
		x0 := float64(marginL) + group*float64(g) + group*0.1
		for k, s := range ss {
			if g >= len(s.values) {
				continue
			}
			h := sc.y(s.values[g])
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x0+bar*float64(k), float64(marginT+plotH)-h, bar, h, palette[k%len(palette)],
				html.EscapeString(label), html.EscapeString(s.name), html.EscapeString(sc.fmtValue(s.values[g])))
		}
		cx := x0 + group*0.4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-40 %.1f %d)">%s</text>`+"\n",
			cx, marginT+plotH+14, cx, marginT+plotH+14, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// lineChart draws one polyline per series over the labelled x positions.
func lineChart(title string, labels []string, ss []series, sc scale) string {
	var b strings.Builder
	svgStart(&b, title, sc, ss)
	step := float64(plotW) / float64(max(len(labels), 1))
	x := func(i int) float64 { return float64(marginL) + step*(float64(i)+0.5) }
	for i, label := range labels {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(i), marginT+plotH+16, html.EscapeString(label))
	}
	for k, s := range ss {
		var pts []string
		for i, v := range s.values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), float64(marginT+plotH)-sc.y(v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", palette[k%len(palette)], strings.Join(pts, " "))
		for i, v := range s.values {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`+"\n",
				x(i), float64(marginT+plotH)-sc.y(v), palette[k%len(palette)],
				html.EscapeString(s.name), html.EscapeString(labels[i]), html.EscapeString(sc.fmtValue(v)))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
