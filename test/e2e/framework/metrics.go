package framework

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the metric families of a scrape of dockercri's /metrics.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics reads the /metrics of a dockercri started with --metrics-bind-addr addr.
func ScrapeMetrics(t testing.TB, addr string) Metrics {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// Value is the sum of the series of family that carry labels: a counter's or gauge's
// value, a histogram's count; -1 when the family is missing.
func (s Metrics) Value(family string, labels map[string]string) float64 {
	f := s[family]
	if f == nil {
		return -1
	}
	total := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		total += sample(m)
	}
	return total
}

// Counts is, for each value of label in family, the sum of its series (as Value).
func (s Metrics) Counts(family, label string) map[string]float64 {
	out := map[string]float64{}
	if f := s[family]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label {
					out[l.GetValue()] += sample(m)
				}
			}
		}
	}
	return out
}

// sample is a series' value: a counter's or gauge's, a histogram's count.
func sample(m *dto.Metric) float64 {
	switch {
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// Rates lists what a family counted between two scrapes, by the values of label, most
// first, divided by per (1: totals; n: per each of n operations).
func Rates(before, after Metrics, family, label string, per float64) string {
	b, a := before.Counts(family, label), after.Counts(family, label)
	type kv struct {
		k string
		n float64
	}
	var list []kv
	for k, v := range a {
		if d := v - b[k]; d > 0 {
			list = append(list, kv{k, d / per})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].k < list[j].k })
	var out []string
	for _, e := range list {
		out = append(out, fmt.Sprintf("%s %.3g", e.k, e.n))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// CPUProfile saves a CPU profile over d of a dockercri started with --metrics-bind-addr
// addr and --enable-pprof to path (go tool pprof reads it).
func CPUProfile(addr, path string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
