package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
)

// TestClusterQuick runs `syncbench --quick --only cluster --json` against the real
// services (skipped without them): every cluster scenario runs at tiny sizes, no row
// is an error, and every row that counts events saw none lost or duplicated.
func TestClusterQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dozen syncd processes")
	}
	servicetest.PostgresServer(t)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	code := Main(ctx, []string{"--quick", "--only", "cluster", "--json", "--no-install", "--work", t.TempDir(), "--log-level", "warn"}, &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		seen[r.Scenario] = true
		if strings.HasPrefix(r.Verdict, "error") {
			t.Errorf("%s (%s): %s", r.Scenario, r.Metric, r.Verdict)
			continue
		}
		if strings.Contains(r.Target, "0 lost") && !strings.Contains(r.Notes, "(0 lost, 0 duplicated)") {
			t.Errorf("%s (%s) lost or duplicated events: %s", r.Scenario, r.Metric, r.Notes)
		}
		// a latency may be 0 (an event that beat the upload's answer); a rate may not
		if strings.Contains(r.Metric, "/s") && !strings.HasPrefix(r.Verdict, "skipped") && r.Syncspace <= 0 {
			t.Errorf("%s (%s) not measured: %+v", r.Scenario, r.Metric, r)
		}
	}
	for _, s := range Scenarios() {
		if strings.HasPrefix(s, clusterPrefix) && !seen[s] {
			t.Errorf("scenario %s gave no row", s)
		}
	}
}

func TestOptInScenarios(t *testing.T) {
	all, err := selectScenarios(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if optIn(s.name) {
			t.Errorf("the default run includes opt-in %s", s.name)
		}
	}
	sel, err := selectScenarios([]string{"cluster", "auth"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sel {
		names = append(names, s.name)
	}
	want := []string{"auth", "cluster-events", "cluster-propagation", "cluster-blobs", "cluster-kill"}
	if !slices.Equal(names, want) {
		t.Fatalf("--only cluster,auth selected %v, want %v", names, want)
	}
	if sel, err := selectScenarios([]string{"cluster-kill"}); err != nil || len(sel) != 1 {
		t.Fatalf("one cluster scenario: %v %v", sel, err)
	}
	// attacks: near misses of the group name
	for _, n := range []string{"cluster-", "clusters", "cluster-*", "CLUSTER"} {
		if _, err := selectScenarios([]string{n}); err == nil {
			t.Errorf("%q was accepted", n)
		}
	}
}

// TestSeqSubCounts feeds a subscriber frames with a duplicate, a gap and junk.
func TestSeqSubCounts(t *testing.T) {
	s := newSeqSub("http://127.0.0.1:1", "tok", "s")
	s.acknowledged(10, "e1")
	var ids []int64
	s.onEvent = func(id int64, _ time.Time) { ids = append(ids, id) }
	for _, q := range []int64{11, 12, 12, 15, 16, 14} {
		s.frame(fmt.Appendf(nil, `{"type":"FileOperation","seq":%d,"operation":{"Create":{"metadata":{"path":"x-ev-%d.txt"}}}}`, q, q*100))
	}
	for _, junk := range []string{`{"type":"Ack","seq":99}`, `not json`, ``, `{"type":"FileOperation","seq":"x"}`} {
		s.frame([]byte(junk))
	}
	if s.got != 6 || s.dup != 2 || s.lost != 2 || s.last != 16 {
		t.Fatalf("got %d dup %d lost %d last %d; want 6, 2, 2, 16", s.got, s.dup, s.lost, s.last)
	}
	if !slices.Equal(ids, []int64{1100, 1200, 1200, 1500, 1600, 1400}) {
		t.Fatalf("event ids %v", ids)
	}
	s.acknowledged(16, "e2")
	if !strings.Contains(s.err, "epoch changed") {
		t.Fatalf("an epoch change was not reported: %q", s.err)
	}
	set := &subSet{subs: []*seqSub{s}, tenant: []int{0}, cancel: func() {}}
	d := set.drain([]int64{20}, []int64{10}, 0)
	if d.want != 10 || d.got != 6 || d.lost != 6 || d.dup != 2 {
		t.Fatalf("drain %+v: want 10, got 6, lost 2 + 4 short of the head, dup 2", d)
	}
}
