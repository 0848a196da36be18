package metrics

import (
	"strconv"
	"testing"
)

// TestObserverCache: a kept observer and one asked past the cap record into the same
// series as WithLabelValues would; no more than maxObservers label sets are kept.
func TestObserverCache(t *testing.T) {
	m := New()
	n := maxObservers + 10
	for i := 0; i < n; i++ {
		route := "/r" + strconv.Itoa(i)
		m.observer("GET", route, 200).Observe(1)
		m.observer("GET", route, 200).Observe(1)
	}
	m.observer("GET", "/r0", 404).Observe(1)
	if got := m.nObservers.Load(); got != maxObservers {
		t.Fatalf("%d observers kept, want %d", got, maxObservers)
	}
	mf, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{} // route status → observations
	for _, f := range mf {
		if f.GetName() != "syncd_http_request_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			var route, status string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "status":
					status = l.GetValue()
				}
			}
			counts[route+" "+status] += s.GetHistogram().GetSampleCount()
		}
	}
	if len(counts) != n+1 {
		t.Fatalf("%d series, want %d", len(counts), n+1)
	}
	for _, i := range []int{0, maxObservers - 1, maxObservers, n - 1} {
		if got := counts["/r"+strconv.Itoa(i)+" 200"]; got != 2 {
			t.Fatalf("route %d: %d observations, want 2", i, got)
		}
	}
	if got := counts["/r0 404"]; got != 1 {
		t.Fatalf("404: %d observations", got)
	}
}
