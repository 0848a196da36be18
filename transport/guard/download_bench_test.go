package guard

import (
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// BenchmarkFileDownload downloads a 64 MiB file over loopback, served by
// http.ServeContent behind Middleware and by a bare http.ServeFile, and reports the
// process's CPU time (client and server, garbage collection included) per download as
// cpu-ns/op and per MiB as cpu-ns/MiB: a figure other processes' load inflates less
// than the wall time.
func BenchmarkFileDownload(b *testing.B) {
	const size = 64 << 20
	p := bigFile(b, size)
	guardedAddr, _ := guarded(b, Options{}, LimiterOptions{}, func(e *echo.Echo) {
		e.GET("/file", func(c echo.Context) error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			http.ServeContent(c.Response().Writer, c.Request(), "", fi.ModTime(), f)
			return nil
		})
	})
	plainAddr := serveBench(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, p)
	}))
	cl := &http.Client{Transport: &http.Transport{ReadBufferSize: 256 << 10, WriteBufferSize: 256 << 10, DisableCompression: true}}
	defer cl.CloseIdleConnections()
	buf := make([]byte, 256<<10)
	for _, tc := range []struct{ name, url string }{
		{"guard", "http://" + guardedAddr + "/file"},
		{"ServeFile", "http://" + plainAddr + "/big.bin"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			c0 := cpuTime(b)
			for b.Loop() {
				resp, err := cl.Get(tc.url)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
			cpu := float64(cpuTime(b) - c0)
			b.ReportMetric(cpu/float64(b.N), "cpu-ns/op")
			b.ReportMetric(cpu/float64(b.N)/(size>>20), "cpu-ns/MiB")
		})
	}
}

// serveBench serves h on a loopback port until the benchmark ends.
func serveBench(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
