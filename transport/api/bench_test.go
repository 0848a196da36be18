package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// baseline is the peer syncd is measured against: a minimal net/http handler with the
// same durability (SHA-256 while streaming, temp file, fsync, rename, fsync of the
// directory) and http.ServeContent for downloads.
type baseline struct {
	dir string
	seq atomic.Int64
}

func (bl *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := filepath.Join(bl.dir, strings.ReplaceAll(strings.TrimPrefix(r.URL.Path, "/"), "/", "_"))
	switch r.Method {
	case http.MethodGet:
		f, err := os.Open(name)
		if err != nil {
			http.Error(w, "not found", 404)
			return
		}
		defer f.Close()
		fi, _ := f.Stat()
		http.ServeContent(w, r, "", fi.ModTime(), f)
	case http.MethodPut:
		tmp := filepath.Join(bl.dir, fmt.Sprintf(".tmp-%d", bl.seq.Add(1)))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(f, h), r.Body); err != nil {
			f.Close()
			os.Remove(tmp)
			http.Error(w, err.Error(), 500)
			return
		}
		if want := r.Header.Get("X-Content-SHA256"); want != "" && want != hex.EncodeToString(h.Sum(nil)) {
			f.Close()
			os.Remove(tmp)
			http.Error(w, "digest", http.StatusUnprocessableEntity)
			return
		}
		if err := f.Sync(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		f.Close()
		if err := os.Rename(tmp, name); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		d, _ := os.Open(bl.dir)
		d.Sync()
		d.Close()
		w.WriteHeader(201)
	}
}

func startBaseline(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: &baseline{dir: b.TempDir()}, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// target is one server under test: base URL, path prefix and token.
type target struct {
	base, prefix, token string
}

func (tg target) put(c *http.Client, name string, body []byte) error {
	req, _ := http.NewRequest("PUT", tg.base+tg.prefix+name, bytes.NewReader(body))
	req.Header.Set("X-Content-SHA256", sum(body))
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		return fmt.Errorf("PUT %s: %d", name, resp.StatusCode)
	}
	return nil
}

func (tg target) get(c *http.Client, name string) (int64, error) {
	req, _ := http.NewRequest("GET", tg.base+tg.prefix+name, nil)
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return n, fmt.Errorf("GET %s: %d", name, resp.StatusCode)
	}
	return n, err
}

// best runs fn reps times and returns the shortest duration.
func best(b *testing.B, reps int, fn func() error) time.Duration {
	var bestD time.Duration
	for range reps {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); bestD == 0 || d < bestD {
			bestD = d
		}
	}
	return bestD
}

// BenchmarkVsNetHTTP measures syncd against the baseline in the same run and prints
// the ratios (syncd throughput / baseline throughput; targets: download ≥ 0.9,
// upload ≥ 0.9, small uploads ≥ 0.8). Run with:
//
//	go test -run '^$' -bench VsNetHTTP -benchtime 1x ./transport/api/
func BenchmarkVsNetHTTP(b *testing.B) {
	bigSize, smallCount := 256<<20, 10000
	if testing.Short() {
		bigSize, smallCount = 16<<20, 500
	}
	e := startDaemon(b, nil)
	tok := e.tenant("bench", tenants.Options{}, "write")
	sy := target{base: e.base, prefix: "/api/files/", token: tok}
	bl := target{base: startBaseline(b), prefix: "/"}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	big := randomBytes(b, bigSize)
	small := make([][]byte, 64)
	for i := range small {
		small[i] = randomBytes(b, 4<<10)
	}
	b.ResetTimer()
	for range b.N {
		// uploads: 256 MiB with SHA-256 and fsync
		up := func(tg target) time.Duration {
			n := 0
			return best(b, 3, func() error { n++; return tg.put(client, fmt.Sprintf("big-%d.bin", n), big) })
		}
		upSy, upBl := up(sy), up(bl)
		// downloads of what was uploaded
		down := func(tg target) time.Duration {
			return best(b, 3, func() error {
				n, err := tg.get(client, "big-1.bin")
				if err == nil && n != int64(bigSize) {
					err = fmt.Errorf("short download: %d", n)
				}
				return err
			})
		}
		downSy, downBl := down(sy), down(bl)
		// many small uploads, 16 at a time
		many := func(tg target, round string) time.Duration {
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			errc := make(chan error, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= smallCount {
							return
						}
						if err := tg.put(client, fmt.Sprintf("s%s-%05d.bin", round, i), small[i%len(small)]); err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			select {
			case err := <-errc:
				b.Fatal(err)
			default:
			}
			return time.Since(start)
		}
		manySy, manyBl := many(sy, "a"), many(bl, "a")
		mb := float64(bigSize) / (1 << 20)
		rDown := downBl.Seconds() / downSy.Seconds()
		rUp := upBl.Seconds() / upSy.Seconds()
		rMany := manyBl.Seconds() / manySy.Seconds()
		fmt.Printf("download %d MiB: syncd %.0f MiB/s, net/http %.0f MiB/s, ratio %.2f (target >= 0.9)\n",
			bigSize>>20, mb/downSy.Seconds(), mb/downBl.Seconds(), rDown)
		fmt.Printf("upload %d MiB (sha256+fsync): syncd %.0f MiB/s, net/http %.0f MiB/s, ratio %.2f (target >= 0.9)\n",
			bigSize>>20, mb/upSy.Seconds(), mb/upBl.Seconds(), rUp)
		fmt.Printf("%d x 4 KiB uploads: syncd %.0f files/s, net/http %.0f files/s, ratio %.2f (target >= 0.8)\n",
			smallCount, float64(smallCount)/manySy.Seconds(), float64(smallCount)/manyBl.Seconds(), rMany)
		b.ReportMetric(rDown, "download-ratio")
		b.ReportMetric(rUp, "upload-ratio")
		b.ReportMetric(rMany, "small-upload-ratio")
	}
}
