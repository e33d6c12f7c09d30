package main

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// countElements parses svg as XML and counts its elements by name.
func countElements(t *testing.T, svg string) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	n := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Local]++
		}
	}
}

func TestCharts(t *testing.T) {
	ss := []series{{"a & b", []float64{1, 10, 0}}, {"<c>", []float64{100, 0.5, 3}}}
	labels := []string{"q0", "q1", "q\"2"}
	for _, log := range []bool{false, true} {
		sc := newScale([]float64{1, 10, 0, 100, 0.5, 3}, log, "ms", human)
		bars := countElements(t, barChart("t", labels, ss, sc))
		// Background, two legend swatches, six bars.
		if bars["rect"] != 1+2+6 {
			t.Errorf("log=%v: bar chart has %d rects, want 9", log, bars["rect"])
		}
		lines := countElements(t, lineChart("t", labels, ss, sc))
		if lines["polyline"] != 2 || lines["circle"] != 6 {
			t.Errorf("log=%v: line chart has %d lines and %d points, want 2 and 6", log, lines["polyline"], lines["circle"])
		}
	}
	// Every value lies inside the plot, the lowest positive one on or
	// above the axis.
	sc := newScale([]float64{0.02, 70}, true, "ms", human)
	for _, v := range []float64{0.02, 1, 70} {
		if y := sc.y(v); y < 0 || y > plotH {
			t.Errorf("log scale [%g, %g]: y(%g) = %g outside the plot", sc.lo, sc.hi, v, y)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--skip", "nexmark,bogus"}, `unknown part "bogus"`},
		{[]string{"--sched-sizes", "10,x"}, `--sched-sizes: "x"`},
		{[]string{"--latency-loads", "120"}, `--latency-loads: "120"`},
		{[]string{"--latency-timeouts", "-1ms"}, `--latency-timeouts: "-1ms"`},
		{[]string{"--nexmark-events", "0"}, "must be positive"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	c, err := parseFlags([]string{"--skip", "nexmark, latency", "--jobmaster-sizes", ""})
	if err != nil || !c.skip["nexmark"] || !c.skip["latency"] || c.skip["sched"] || c.jmSizes != nil {
		t.Errorf("parseFlags: %+v, %v", c, err)
	}
}
