package guard

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// bigFile writes size bytes of a repeating pattern to a file in t's temp dir.
func bigFile(t testing.TB, size int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.bin")
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readFromCounter is a ResponseWriter whose ReadFrom counts its calls.
type readFromCounter struct {
	*httptest.ResponseRecorder
	calls int
}

func (r *readFromCounter) ReadFrom(src io.Reader) (int64, error) {
	r.calls++
	return io.Copy(r.ResponseRecorder, src)
}

// TestReadFromFileOneCall: a file, alone or inside a LimitedReader, reaches the wrapped
// ReadFrom in one call (one sendfile loop), with every byte and the limit kept; other
// sources are still cut in pieces of stallChunk.
func TestReadFromFileOneCall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the file watch runs on Linux only")
	}
	const size = 1 << 20
	p := bigFile(t, size)
	want, _ := os.ReadFile(p)
	cases := []struct {
		name      string
		src       func(f *os.File) io.Reader
		wantBytes []byte
		wantCalls int
		device    bool
	}{
		{"limited", func(f *os.File) io.Reader { return &io.LimitedReader{R: f, N: size - 100} }, want[:size-100], 1, false},
		{"limited from an offset", func(f *os.File) io.Reader {
			f.Seek(1000, io.SeekStart)
			return &io.LimitedReader{R: f, N: 300_000}
		}, want[1000:301_000], 1, false},
		{"whole file", func(f *os.File) io.Reader { return f }, want, 1, false},
		{"small limit: pieces", func(f *os.File) io.Reader { return &io.LimitedReader{R: f, N: stallChunk} }, want[:stallChunk], 1, false},
		{"not a file: pieces", func(*os.File) io.Reader { return bytes.NewReader(want) }, want, size/stallChunk + 1, false},
		{"file hidden in a wrapper: pieces", func(f *os.File) io.Reader { return struct{ io.Reader }{f} }, want, size/stallChunk + 1, false},
		// A device seeks, but its position need not count what was read.
		{"device: pieces", func(f *os.File) io.Reader { return &io.LimitedReader{R: f, N: size} }, make([]byte, size), size / stallChunk, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(p)
			if tc.device {
				f, err = os.Open("/dev/zero")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rec := &readFromCounter{ResponseRecorder: httptest.NewRecorder()}
			w := &writer{ResponseWriter: rec, stall: time.Minute, refresh: time.Second}
			w.rc = *http.NewResponseController(rec)
			n, err := w.ReadFrom(tc.src(f))
			if err != nil || n != int64(len(tc.wantBytes)) {
				t.Fatalf("ReadFrom: %d, %v; want %d bytes", n, err, len(tc.wantBytes))
			}
			if !bytes.Equal(rec.Body.Bytes(), tc.wantBytes) {
				t.Fatal("bytes differ")
			}
			if rec.calls != tc.wantCalls {
				t.Fatalf("%d ReadFrom calls, want %d", rec.calls, tc.wantCalls)
			}
		})
	}
}

// TestStalledFileReaderCut: a file answer (http.ServeContent, sendfile) whose reader
// stops is cut after the stall; a steady reader whose download takes several stall
// windows is not, and its connection is reused afterwards.
func TestStalledFileReaderCut(t *testing.T) {
	const size = 64 << 20
	p := bigFile(t, size)
	writeErr := make(chan error, 1)
	addr, _ := guarded(t, Options{Stall: 2 * time.Second}, LimiterOptions{}, func(e *echo.Echo) {
		e.GET("/file", func(c echo.Context) error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			c.Response().Header().Set("Content-Length", "67108864")
			c.Response().WriteHeader(http.StatusOK)
			_, err = io.CopyN(c.Response().Writer, f, size) // a LimitedReader over the file
			writeErr <- err
			return nil
		})
	})
	t.Run("stopped reader", func(t *testing.T) {
		conn := dialSmallBuffer(t, addr)
		defer conn.Close()
		io.WriteString(conn, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := io.ReadFull(conn, make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		select { // the reader stops here
		case err := <-writeErr:
			if err == nil {
				t.Fatal("copy finished to a reader that stopped")
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("cut after %v", d)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("stalled file answer never cut")
		}
	})
	t.Run("steady reader", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		io.WriteString(conn, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		// ~10 MiB/s: 6 s for the file, three stall windows, far below loopback speed.
		start := time.Now()
		lr := &io.LimitedReader{R: resp.Body}
		var got int64
		for got < size {
			lr.N = 100 << 10
			n, err := io.Copy(io.Discard, lr)
			got += n
			if err != nil || n == 0 {
				t.Fatalf("after %d bytes, %v: %v", got, time.Since(start), err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		resp.Body.Close()
		if err := <-writeErr; err != nil {
			t.Fatalf("steady reader cut: %v", err)
		}
		if d := time.Since(start); d < 4*time.Second {
			t.Logf("download took %v: under two stall windows, the test proves less", d)
		}
		// The deadline does not outlive the answer: a request more than a stall window later
		// is answered on the same connection.
		time.Sleep(3 * time.Second)
		io.WriteString(conn, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("next request on the connection: %v", err)
		}
		conn.Close()
		<-writeErr
	})
}
