package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestQuickDelta runs `syncbench --quick --only delta`: both edits, both directions,
// measured and judged (plus the informational rows against rsync --fsync);
// syncspace's bytes on the wire show a delta, not the whole file (no speed is
// asserted).
func TestQuickDelta(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := Main(ctx, []string{"--quick", "--only", "delta", "--json", "--no-install", "--work", t.TempDir(), "--log-level", "warn"}, &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 12 {
		t.Fatalf("want 12 rows, got %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Syncspace <= 0 {
			t.Errorf("row not measured: %+v", r)
		}
		if strings.Contains(r.Metric, "% of file") && r.Syncspace > 10 {
			t.Errorf("%s: %.1f%% of the file on the wire: not a delta", r.Metric, r.Syncspace)
		}
		fsync := strings.HasSuffix(r.Metric, "against rsync --fsync")
		if fsync != (r.Peer == "rsync daemon --fsync") {
			t.Errorf("%s: peer %q", r.Metric, r.Peer)
		}
		switch {
		case strings.HasPrefix(r.Verdict, "skipped: "):
		case fsync && r.Verdict != "info", !fsync && r.Verdict != "pass" && r.Verdict != "MISS":
			t.Errorf("%s: verdict %q", r.Metric, r.Verdict)
		}
	}
}
