package tenants

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

// jerkyReader returns reads of changing sizes, some empty.
type jerkyReader struct {
	r *bytes.Reader
	i int
}

func (j *jerkyReader) Read(p []byte) (int, error) {
	j.i++
	if j.i%5 == 0 {
		return 0, nil
	}
	return j.r.Read(p[:min(len(p), 1+(j.i*7919)%(300<<10))])
}

// TestBodyHashedBeside: a large body, hashed and chunked on a goroutine of its own
// while it is written, gets the hash, content and chunk list of its bytes, declared
// or not; an X-Content-SHA256 that differs still fails.
func TestBodyHashedBeside(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i, size := range []int64{3 << 20, -1, pipeMin - 1} {
		data := randomData(uint64(30+i), 3<<20)
		if size >= 0 {
			data = data[:size]
		}
		m, _, err := e.sp.Put(ctx, "a.bin", &jerkyReader{r: bytes.NewReader(data)}, PutOptions{Size: size, SHA256: sum(data)})
		if err != nil || m.Hash != sum(data) || !bytes.Equal(e.read("a.bin"), data) {
			t.Fatalf("size %d: %v %s", size, err, m.Hash)
		}
		l, err := NewDelta(e.sp).Chunks(ctx, "a.bin")
		if err != nil {
			t.Fatal(err)
		}
		wantList(t, l, data)
		_, _, err = e.sp.Put(ctx, "a.bin", &jerkyReader{r: bytes.NewReader(data[1:])}, PutOptions{Size: -1, SHA256: sum(data)})
		wantCode(t, err, protocol.CodeDigestMismatch)
	}
}

// TestSmallBodiesPooled: small declared bodies read into buffers from smallBufs,
// larger ones before smaller ones and one longer than declared, get their own bytes
// and hash, whatever the buffer held before; an upload that fails gives its buffer
// back too.
func TestSmallBodiesPooled(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i, size := range []int64{gatherMaxSize, 4096, 1, 0, 4095, gatherMaxSize - 1, 512, 513} {
		data := randomData(uint64(50+i), int(size))
		p := fmt.Sprintf("s%d.bin", i)
		m, _, err := e.sp.Put(ctx, p, &jerkyReader{r: bytes.NewReader(data)}, PutOptions{Size: size})
		if err != nil || m.Hash != sum(data) || !bytes.Equal(e.read(p), data) {
			t.Fatalf("size %d: %v %s", size, err, m.Hash)
		}
		_, _, err = e.sp.Put(ctx, p, bytes.NewReader(append(data, 'x')), PutOptions{Size: size})
		wantCode(t, err, protocol.CodeBadRequest)
	}
}
