package api_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// BenchmarkDeletedAnswer measures GET /api/deleted over deletedBenchFiles deleted
// files on a real syncd in this process: peak-heap-MiB is the largest growth of the
// process's live heap objects during one answer (sampled every 100 µs through
// runtime/metrics, after a GC), the client reading as fast as it can.
func BenchmarkDeletedAnswer(b *testing.B) {
	n := deletedBenchFiles
	if v, err := strconv.Atoi(os.Getenv("SYNCSPACE_BENCH_DELETED")); err == nil && v > 0 {
		n = v
	}
	e := startDaemon(b, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				e.put(tok, fmt.Sprintf("many/f%05d", i), []byte(fmt.Sprint(i)))
			}
		})
	}
	wg.Wait()
	if a := e.do(req{method: "DELETE", path: "/api/files/many?recursive=true", token: tok}); a.status != 200 {
		b.Fatalf("delete: %d", a.status)
	}
	var peak float64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		base := heapObjects()
		stop, max := make(chan struct{}), make(chan uint64)
		go func() {
			m := base
			t := time.NewTicker(100 * time.Microsecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					max <- m
					return
				case <-t.C:
					m = maxU(m, heapObjects())
				}
			}
		}()
		r, _ := http.NewRequest("GET", e.base+"/api/deleted?path=many", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		close(stop)
		peak += float64(<-max-base) / (1 << 20)
		if resp.StatusCode != 200 || got < int64(n)*100 {
			b.Fatalf("answer %d, %d bytes", resp.StatusCode, got)
		}
	}
	b.ReportMetric(peak/float64(b.N), "peak-heap-MiB/op")
}

// deletedBenchFiles is how many deleted files BenchmarkDeletedAnswer lists, unless
// the environment variable SYNCSPACE_BENCH_DELETED says otherwise.
const deletedBenchFiles = 5000

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
