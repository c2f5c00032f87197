package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one printed result.
type figure struct {
	name, unit, what string
	value            float64
	prec             int
}

type report struct {
	figs     []figure
	comments []string
}

func (r *report) add(name string, value float64, prec int, unit, what string) {
	r.figs = append(r.figs, figure{name: name, value: value, prec: prec, unit: unit, what: what})
}

func (r *report) get(name string) float64 {
	for _, f := range r.figs {
		if f.name == name {
			return f.value
		}
	}
	return 0
}

func (r *report) note(format string, args ...any) {
	r.comments = append(r.comments, fmt.Sprintf(format, args...))
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// print writes the table, the notes, then one "name: value" line per figure
// in the order given by order (figures not in order come first).
func (r *report) print(w io.Writer, order []string) {
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i + 1
	}
	var first, last []figure
	byName := map[string]figure{}
	for _, f := range r.figs {
		byName[f.name] = f
		if pos[f.name] == 0 {
			first = append(first, f)
		}
	}
	for _, n := range order {
		if f, ok := byName[n]; ok {
			last = append(last, f)
		}
	}
	all := append(first, last...)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\twhat")
	fmt.Fprintln(tw, "------\t-----\t----\t----")
	for _, f := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.format(), f.unit, f.what)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, c := range r.comments {
		fmt.Fprintln(w, "# "+c)
	}
	for _, f := range all {
		fmt.Fprintf(w, "%s: %s\n", f.name, f.format())
	}
}

func (f figure) format() string {
	return strconv.FormatFloat(f.value, 'f', f.prec, 64)
}

var startTime = time.Now()

// progress writes a timestamped line to stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(startTime).Seconds(), strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// median of a few durations, in milliseconds.
func medianMS(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return float64(m) / float64(time.Millisecond)
}

func fmtN(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
