package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDataDirTakenOnce: a second syncd on a data dir another one serves (a service
// and a hand-started copy, or two containers on one volume during a rolling update)
// refuses to start, naming data_dir, and the first keeps serving; once the first has
// stopped, the data dir can be started again. Two of them used to run side by side,
// each answering preconditions from its own memory of the other's commits: an upload
// with If-Match of content the other had already replaced was accepted (a lost update).
func TestDataDirTakenOnce(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := func(name string) string {
		b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data})
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first, second := conf("a.json"), conf("b.json")
	ctx := context.Background()
	d1, err := start(ctx, []string{"-config", first}, io.Discard, io.Discard, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d1.Shutdown(ctx)
		}
	})

	d, err := start(ctx, []string{"-config", second}, io.Discard, io.Discard, envFunc(nil))
	if err == nil {
		d.Shutdown(ctx)
		t.Fatal("a second syncd started on the data dir of a running one")
	}
	msg := oneLine(err)
	if !strings.Contains(msg, "data_dir") || !strings.Contains(msg, "another syncd") {
		t.Fatalf("error %q: want it to name data_dir and another syncd", msg)
	}
	if err := getReady(d1.Addr()); err != nil {
		t.Fatalf("first syncd after the second was refused: %v", err)
	}

	d1.Shutdown(ctx)
	stopped = true
	d2, err := start(ctx, []string{"-config", second}, io.Discard, io.Discard, envFunc(nil))
	if err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
	d2.Shutdown(ctx)
}

func getReady(addr string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("readyz %d", resp.StatusCode)
	}
	return nil
}
