package daemon

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/sync/protocol"
)

// syncdBinary is cmd/syncd, built once per source tree (cmd/internal/testbin).
func syncdBinary(t *testing.T) string {
	t.Helper()
	return testbin.Path(t, testbin.Syncd)
}

// proc is a syncd subprocess on the embedded default in dir.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before exited is closed
}

var addrRE = regexp.MustCompile(`msg="syncd listening" addr=(\S+)`)

func startProc(t *testing.T, dir string) *proc {
	t.Helper()
	cmd := exec.Command(syncdBinary(t))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYNCD_LISTEN=127.0.0.1:0", "SYNCD_LOG_LEVEL=info")
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { p.err = cmd.Wait(); pw.Close(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case p.addr = <-found:
	case <-p.exited:
		t.Fatalf("syncd exited: %v\n%s", p.err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("syncd did not start:\n%s", p.stderr.String())
	}
	return p
}

// waitStartCheck waits until syncd logs that its start-up disk check is done.
func (p *proc) waitStartCheck(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.stderr.String(), "start-up disk check done") {
		if time.Now().After(deadline) {
			t.Fatalf("no start-up disk check:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("syncd did not exit within %v:\n%s", d, p.stderr.String())
	}
	return -1
}

func readToken(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "syncd-data", "default.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func doReq(method, url, token string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func content(kind string, i int) []byte {
	// distinct, sizeable contents so that a kill lands mid-write
	return bytes.Repeat([]byte(fmt.Sprintf("%s-%03d|", kind, i)), 2000+i*300)
}

// TestCrashDuringUploads SIGKILLs syncd during many concurrent uploads, restarts it
// and checks: every file holds its old or its new content, the index equals the disk,
// and the change log has no gap.
func TestCrashDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a syncd subprocess")
	}
	dir := t.TempDir()
	p := startProc(t, dir)
	token := readToken(t, dir)
	base := "http://" + p.addr
	const n = 40
	for i := range n {
		resp, b, err := doReq("PUT", fmt.Sprintf("%s/api/files/f/%02d.txt", base, i), token, bytes.NewReader(content("old", i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("initial upload %d: %v %s", i, err, b)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				for i := w; i < n; i += 8 {
					select {
					case <-stop:
						return
					default:
					}
					_, _, _ = doReq("PUT", fmt.Sprintf("%s/api/files/f/%02d.txt", base, i), token, bytes.NewReader(content(fmt.Sprint("new", round%2), i)))
					// also create and delete extra files
					_, _, _ = doReq("PUT", fmt.Sprintf("%s/api/files/g/%d-%d.txt", base, w, round), token, strings.NewReader("x"))
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	p.wait(t, 10*time.Second)

	p2 := startProc(t, dir)
	base = "http://" + p2.addr
	for i := range n {
		resp, b, err := doReq("GET", fmt.Sprintf("%s/api/files/f/%02d.txt", base, i), token, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d after crash: %v %d", i, err, resp.StatusCode)
		}
		if !bytes.Equal(b, content("old", i)) && !bytes.Equal(b, content("new0", i)) && !bytes.Equal(b, content("new1", i)) {
			t.Fatalf("file %d holds neither old nor new content (%d bytes)", i, len(b))
		}
		if resp.Header.Get("Etag") != `"`+hexSum(b)+`"` {
			t.Fatalf("file %d: ETag %s does not match its content", i, resp.Header.Get("Etag"))
		}
	}
	// index == disk, once the start-up check (in the background) is done
	p2.waitStartCheck(t)
	resp, b, err := doReq("GET", base+"/api/list?recursive=true", token, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %v", err)
	}
	var l struct {
		Seq     int64               `json:"seq"`
		Entries []protocol.Metadata `json:"entries"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	index := map[string]string{}
	for _, m := range l.Entries {
		index[m.Path] = m.Hash
	}
	disk := map[string]string{}
	root := filepath.Join(dir, "syncd-data", "tenants", "default", "files")
	err = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if de.IsDir() {
			disk[rel] = ""
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		disk[rel] = hexSum(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := mapDiff(index, disk); diff != "" {
		t.Fatalf("index and disk disagree after crash:\n%s", diff)
	}
	// change log gapless, and equal to the list at its seq
	var events []protocol.Event
	since := int64(0)
	for {
		resp, b, err := doReq("GET", fmt.Sprintf("%s/api/changes?since=%d&limit=10000", base, since), token, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("changes: %v %s", err, b)
		}
		var pg protocol.ChangesPage
		if err := json.Unmarshal(b, &pg); err != nil {
			t.Fatal(err)
		}
		events = append(events, pg.Events...)
		since = pg.Seq
		if !pg.More {
			break
		}
	}
	for i, ev := range events {
		if ev.Seq != int64(i+1) {
			t.Fatalf("change log gap: event %d has seq %d", i, ev.Seq)
		}
	}
	if int64(len(events)) < l.Seq {
		t.Fatalf("list seq %d beyond the log (%d events)", l.Seq, len(events))
	}
	replayed := map[string]string{}
	for _, ev := range events {
		if ev.Seq > l.Seq {
			break
		}
		m := ev.Operation.Meta()
		switch ev.Operation.Kind() {
		case protocol.OpDelete:
			for k := range replayed {
				if k == m.Path || strings.HasPrefix(k, m.Path+"/") {
					delete(replayed, k)
				}
			}
		default:
			for d := filepath.Dir(m.Path); d != "."; d = filepath.Dir(d) {
				replayed[filepath.ToSlash(d)] = ""
			}
			replayed[m.Path] = m.Hash
		}
	}
	if diff := mapDiff(replayed, index); diff != "" {
		t.Fatalf("events 1..%d do not give the list:\n%s", l.Seq, diff)
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(t, 30*time.Second)
}

func mapDiff(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only in first: "+k)
		} else if v != w {
			out = append(out, "differs: "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only in second: "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// slowBody yields size bytes in chunks with pauses; started is closed after the first
// chunk.
type slowBody struct {
	left    int
	chunk   int
	pause   time.Duration
	started chan struct{}
	once    sync.Once
	stall   bool // never finish
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	first := false
	s.once.Do(func() { first = true })
	if !first {
		time.Sleep(s.pause)
		if s.stall {
			select {}
		}
	}
	n := min(len(p), s.chunk, s.left)
	for i := range n {
		p[i] = 'z'
	}
	s.left -= n
	if first {
		close(s.started)
	}
	return n, nil
}

// continueClient sends uploads with `Expect: 100-continue` and waits for the 100: the
// body's first Read then proves the server's handler is running, so a signal sent
// after it finds the request in flight (not queued in the accept backlog).
var continueClient = &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}

// TestGracefulShutdown: SIGTERM stops accepting, lets an in-flight upload finish,
// and exits 0.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a syncd subprocess")
	}
	gracefulShutdown(t, 1)
}

// TestDuplicateSignalIsOneSignal: a SIGTERM delivered twice at once, as timeout(1)
// does (to the process and to its process group) or a supervisor signalling the
// process and its group, is one request to stop: the in-flight upload still finishes
// and syncd exits 0, instead of taking the copy for a second signal and exiting at
// once.
func TestDuplicateSignalIsOneSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a syncd subprocess")
	}
	gracefulShutdown(t, 2)
}

// gracefulShutdown sends SIGTERM signals times (5 ms apart) during an upload and checks
// that the upload finishes, syncd exits 0 and a restart serves the file.
func gracefulShutdown(t *testing.T, signals int) {
	dir := t.TempDir()
	p := startProc(t, dir)
	token := readToken(t, dir)
	body := &slowBody{left: 1 << 20, chunk: 64 << 10, pause: 100 * time.Millisecond, started: make(chan struct{})}
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("PUT", "http://"+p.addr+"/api/files/slow.bin", body)
		req.ContentLength = 1 << 20
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Expect", "100-continue")
		resp, err := continueClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	<-body.started
	for i := range signals {
		if i > 0 {
			// The copy a few milliseconds later: sent at once, two signals may merge
			// into one pending signal in the kernel, which would test nothing.
			time.Sleep(5 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	// New connections are refused soon after the signal.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		resp, err := c.Get("http://" + p.addr + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := <-res
	if r.err != nil || r.status != 201 {
		t.Fatalf("in-flight upload: %v %d\n%s", r.err, r.status, p.stderr.String())
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.stderr.String())
	}
	t.Logf("syncd log:\n%s", p.stderr.String())
	// The upload is durable: a restart serves it.
	p2 := startProc(t, dir)
	resp, b, err := doReq("GET", "http://"+p2.addr+"/api/files/slow.bin", token, nil)
	if err != nil || resp.StatusCode != 200 || len(b) != 1<<20 {
		t.Fatalf("after restart: %v %d bytes", err, len(b))
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSecondSignalExitsAtOnce: a stalled upload holds the grace period; a second
// signal ends the process at once with exit code 1.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a syncd subprocess")
	}
	dir := t.TempDir()
	p := startProc(t, dir)
	token := readToken(t, dir)
	body := &slowBody{left: 1 << 20, chunk: 1024, pause: 10 * time.Millisecond, started: make(chan struct{}), stall: true}
	go func() {
		req, _ := http.NewRequest("PUT", "http://"+p.addr+"/api/files/stalled.bin", body)
		req.ContentLength = 1 << 20
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Expect", "100-continue")
		resp, err := continueClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-body.started
	time.Sleep(100 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	// The window runs from when syncd took the first signal, which a loaded machine
	// can delay: wait for its shutdown to begin, then past DuplicateSignalWindow.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "syncd shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown 30 s after SIGTERM:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.exited:
		t.Fatalf("exited before the grace period with a stalled upload")
	default:
	}
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	code := p.wait(t, 5*time.Second)
	if code != 1 || time.Since(start) > 3*time.Second {
		t.Fatalf("second signal: exit %d after %v", code, time.Since(start))
	}
}
