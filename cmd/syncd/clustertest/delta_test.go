//go:build !windows

package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
)

// TestDeltaAcrossNodes: a file uploaded on one node; its chunk list read on a second
// (kept in PostgreSQL when the first received it); a delta posted to a third, which
// reads the base from the shared blob store with ranged reads; the new content read
// back on the first.
func TestDeltaAcrossNodes(t *testing.T) {
	needServices(t)
	c := startCluster(t, servicetest.Redis(t))
	writer, reader := c.tenant(t, "t"+servicetest.Name(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := func(i int) string { return "http://" + c.nodes[i].addr }
	do := func(method, url, token string, body []byte, hdr map[string]string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	hexSum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

	r := rand.New(rand.NewPCG(9, 9))
	base := make([]byte, 3<<20)
	for i := range base {
		base[i] = byte(r.Uint32())
	}
	if st, b := do(http.MethodPut, node(0)+"/api/files/big.bin", writer, base, nil); st != http.StatusCreated {
		t.Fatalf("put: %d %s", st, b)
	}
	st, b := do(http.MethodGet, node(1)+"/api/chunks/big.bin", reader, nil, nil)
	var l protocol.ChunkList
	if err := json.Unmarshal(b, &l); st != http.StatusOK || err != nil || l.Hash != hexSum(base) {
		t.Fatalf("chunks on another node: %d %s", st, b)
	}
	have := map[[32]byte]int64{}
	var off int64
	for _, ch := range l.Chunks {
		have[ch.Hash] = off
		off += ch.Size
	}
	next := append(bytes.Clone(base[:1<<20]), []byte("a hundred bytes? no, fewer")...)
	next = append(next, base[1<<20:]...)
	nl, _ := chunk.List(ctx, bytes.NewReader(next))
	var ops bytes.Buffer
	w := delta.NewWriter(&ops)
	for _, ch := range nl {
		if o, ok := have[ch.Hash]; ok {
			w.Copy(o, ch.Size)
		} else {
			w.Data(next[ch.Offset : ch.Offset+ch.Size])
		}
	}
	w.End()
	if w.Literal() > int64(len(next))/4 {
		t.Fatalf("%d literal bytes of %d", w.Literal(), len(next))
	}
	st, b = do(http.MethodPost, node(2)+"/api/delta/big.bin", writer, ops.Bytes(), map[string]string{
		"If-Match": `"` + l.Hash + `"`, "X-Content-SHA256": hexSum(next), "Content-Type": delta.ContentType})
	if st != http.StatusOK {
		t.Fatalf("delta on a third node: %d %s", st, b)
	}
	if st, b = do(http.MethodGet, node(0)+"/api/files/big.bin", reader, nil, nil); st != http.StatusOK || !bytes.Equal(b, next) {
		t.Fatalf("content on the first node: %d, %d bytes", st, len(b))
	}
	st, b = do(http.MethodGet, node(1)+"/api/chunks/big.bin", reader, nil, nil)
	if err := json.Unmarshal(b, &l); st != http.StatusOK || err != nil || l.Hash != hexSum(next) || l.Size != int64(len(next)) {
		t.Fatalf("chunks after the delta: %d %s", st, b)
	}
}
