package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMainQuickAuth runs `syncbench --quick --only auth --json` in-process: a real
// syncd on loopback against the auth-off route. No speed is asserted, only that both
// sides were measured and judged.
func TestMainQuickAuth(t *testing.T) {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, []string{"--quick", "--only", "auth", "--json", "--no-install", "--work", t.TempDir(), "--log-level", "warn"}, &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	if !rep.Quick || rep.Machine.CPUs < 1 {
		t.Errorf("report header: %+v", rep)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("want 1 row, got %+v", rep.Results)
	}
	r := rep.Results[0]
	if r.Scenario != "auth" || r.Syncspace <= 0 || r.PeerValue <= 0 || r.Ratio <= 0 {
		t.Fatalf("row not measured: %+v", r)
	}
	if r.Verdict != "pass" && r.Verdict != "MISS" {
		t.Fatalf("verdict %q", r.Verdict)
	}
	if r.Target != "≥ 0.9×" {
		t.Errorf("target %q", r.Target)
	}
}

// TestMainTable checks the text table of a quick small-uploads run.
func TestMainTable(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, []string{"--quick", "--only=small-uploads", "--no-install", "--log-level", "error"}, &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"| scenario", "small-uploads (files/s)", "minimal durable handler:", "≥ 0.8×", "machine: "} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"help", []string{"-h"}, ExitOK, "Scenarios: download, upload"},
		// attacks on the command line
		{"unknown flag", []string{"--bogus"}, ExitUsage, "flag provided but not defined"},
		{"unknown scenario", []string{"--only", "nope"}, ExitUsage, `unknown scenario "nope"`},
		{"empty only list", []string{"--only", ",,"}, ExitUsage, "names no scenario"},
		{"path-like scenario", []string{"--only", "../download"}, ExitUsage, "unknown scenario"},
		{"stray argument", []string{"download"}, ExitUsage, `unexpected argument "download"`},
		{"bad log level", []string{"--log-level", "loud"}, ExitUsage, "--log-level"},
		{"NUL in name", []string{"--only", "auth\x00"}, ExitUsage, "unknown scenario"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if all := out.String() + errOut.String(); !strings.Contains(all, tc.want) {
				t.Fatalf("output lacks %q: %q", tc.want, all)
			}
		})
	}
}

func TestSelectScenariosOrder(t *testing.T) {
	sel, err := selectScenarios([]string{"rss", " auth", "download"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sel {
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"download", "auth", "rss"}) {
		t.Fatalf("order %v", names)
	}
}

func TestEventParsing(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		count int
		ids   []int64
	}{
		{"syncspace frame", `{"type":"FileOperation","seq":7,"operation":{"Create":{"metadata":{"path":"ev/ev-7.txt"}}}}`, 1, []int64{7}},
		{"batched frame", "{\"path\":\"ev/ev-1.txt\"}\n{\"path\":\"ev/ev-2.txt\"}\n", 2, []int64{1, 2}},
		{"centrifugo push", `{"push":{"channel":"bench","pub":{"data":{"path":"ev/ev-42.txt"}}}}`, 1, []int64{42}},
		{"no event", `{"type":"Ack","seq":3}`, 0, nil},
		// attacks: what a broken or hostile server might send
		{"marker without digits", `ev-ev-x`, 2, nil},
		{"marker at end", `abc ev-`, 1, nil},
		{"overlong id", `ev-99999999999999999999999`, 1, []int64{999999999999999999}},
		{"empty", ``, 0, nil},
		{"binary junk", "\x00\xffev-\x00ev-12\xff", 2, []int64{12}},
		{"negative-looking", `ev--5`, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := countEvents([]byte(tc.frame)); got != tc.count {
				t.Errorf("count %d, want %d", got, tc.count)
			}
			var ids []int64
			eventIDs([]byte(tc.frame), func(id int64) { ids = append(ids, id) })
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
		})
	}
}

func FuzzEventIDs(f *testing.F) {
	f.Add([]byte(`{"path":"ev/ev-7.txt"}`))
	f.Add([]byte("ev-1\nev-2\nev-"))
	f.Add([]byte("ev-99999999999999999999"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		eventIDs(b, func(id int64) {
			if id < 0 {
				t.Fatalf("negative id %d", id)
			}
			n++
		})
		if n > countEvents(b) {
			t.Fatalf("%d ids from %d markers", n, countEvents(b))
		}
	})
}

func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"normal", "Name:\tsyncd\nVmRSS:\t   12345 kB\nThreads: 5\n", 12345 * 1024, false},
		{"no unit", "VmRSS: 10\n", 10240, false},
		// attacks
		{"missing", "Name: x\n", 0, true},
		{"negative", "VmRSS: -5 kB\n", 0, true},
		{"not a number", "VmRSS: lots kB\n", 0, true},
		{"huge", "VmRSS: 99999999999999999 kB\n", 0, true},
		{"overflow", "VmRSS: 999999999999999999999999 kB\n", 0, true},
		{"wrong unit", "VmRSS: 5 MB\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRSS([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, %v; want %d, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if v, err := rssOf(os.Getpid()); err != nil || v <= 0 {
		t.Fatalf("own RSS: %d, %v", v, err)
	}
}

func FuzzParseRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t 100 kB\n"))
	f.Add([]byte("VmRSS: -1\n"))
	f.Add([]byte("VmRSS:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseRSS(b)
		if err == nil && v < 0 {
			t.Fatalf("negative RSS %d", v)
		}
	})
}

func TestPercentileAndMedian(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if p := percentile(ds, 50); p != 3 {
		t.Errorf("p50 %d", p)
	}
	if p := percentile(ds, 99); p != 5 {
		t.Errorf("p99 %d", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("empty p99 %d", p)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median %v", m)
	}
}

func TestRowVerdicts(t *testing.T) {
	if r := row("s", "m", 90, "p", 100, "", ratioAtLeast(0.9)); r.Verdict != "pass" || r.Ratio != 0.9 {
		t.Errorf("%+v", r)
	}
	if r := row("s", "m", 89, "p", 100, "", ratioAtLeast(0.9)); r.Verdict != "MISS" {
		t.Errorf("%+v", r)
	}
	if r := row("s", "m", 50, "p", 1000, "", valueAtMost(100, "ms"), ratioAtMost(0.2)); r.Verdict != "pass" || r.Target != "≤ 100 ms and ≤ 0.2×" {
		t.Errorf("%+v", r)
	}
	if r := row("s", "m", 50, "", 0, "", ratioAtMost(0.2)); r.Verdict != "MISS" {
		t.Errorf("ratio goal without a peer must not pass: %+v", r)
	}
	if r := row("s", "m", 5, "p", 1, ""); r.Verdict != "info" {
		t.Errorf("%+v", r)
	}
}

// TestDurableHandler checks the peer handler keeps SPEC's durability contract: a
// digest mismatch is 422 and writes nothing; bad names are refused.
func TestDurableHandler(t *testing.T) {
	dir := t.TempDir()
	url, stop, err := serveLocal(&durableHandler{dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cl := newHTTPClient(1)
	ctx := context.Background()
	body := []byte("hello")
	if err := put(ctx, cl, url+"/a/b.txt", "", body, sha256Hex(body)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a", "b.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("stored %q, %v", b, err)
	}
	// attacks
	if err := put(ctx, cl, url+"/c.txt", "", body, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("digest mismatch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.txt")); !os.IsNotExist(err) {
		t.Fatalf("mismatched upload was stored: %v", err)
	}
	for _, p := range []string{"/", "/.tmp-1", "/..%2f..%2fetc", "/a/..%2f..%2fetc", "/a//b.txt"} {
		req, _ := http.NewRequest(http.MethodPut, url+p, strings.NewReader("x"))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("PUT %s: %d", p, resp.StatusCode)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// TestFanRunMiniHub drives the minimal gorilla hub with real clients.
func TestFanRunMiniHub(t *testing.T) {
	url, stop, err := serveLocal(NewMiniHub())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := fanRun(ctx, miniHubTarget(url, newHTTPClient(2)), 1, 10, 2, 8, 200*time.Millisecond, 500*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.eventsPerSec <= 0 || st.published <= 0 || st.p50 <= 0 || st.p99 < st.p50 {
		t.Fatalf("stats %+v", st)
	}
}

func TestParseStatCPU(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
	line := []byte("4242 (rsync (x) y) S 1 4242 4242 0 -1 4194560 300 20 0 0 150 50 30 20 20 0 1 0 100 1000 50\n")
	got, err := parseStatCPU(line, 100)
	if err != nil || got != 2500*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 2.5s (250 ticks)", got, err)
	}
	if _, err := parseStatCPU([]byte("4242 (rsync) S 1 2"), 100); err == nil {
		t.Fatal("a short line parsed")
	}
}
