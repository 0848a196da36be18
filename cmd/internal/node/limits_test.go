package node

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants"
)

// TestLimitsFollowOtherNodes: what another node frees counts on this one. Node B has
// the tenants' spaces open; node A deletes a large file of tenant q (quota 100 kB)
// and the files that filled tenant e's entry limit (3). B's next upload of 80 kB to q,
// and its next upload and mkdir in e, fit and must succeed: B's own counters knew
// only the usage of when B opened the spaces.
func TestLimitsFollowOtherNodes(t *testing.T) {
	ctx := context.Background()
	open := testCluster(t, "postgres")
	a, b := open(), open()
	put := func(sp *tenants.Space, p string, body []byte) error {
		_, _, err := sp.Put(ctx, p, bytes.NewReader(body), tenants.PutOptions{Size: int64(len(body))})
		return err
	}
	spaces := func(name string, o tenants.Options, files map[string][]byte) (spA, spB *tenants.Space) {
		t.Helper()
		if _, err := a.Tenants.Create(ctx, name, o); err != nil {
			t.Fatal(err)
		}
		spA, err := a.Tenants.Space(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for p, body := range files {
			if err := put(spA, p, body); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, 15*time.Second, "tenant on B", func() bool {
			spB, err = b.Tenants.Space(ctx, name)
			return err == nil
		})
		for p := range files {
			if _, err := spA.Delete(ctx, p, tenants.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return spA, spB
	}

	_, qB := spaces("q", tenants.Options{Quota: 100_000}, map[string][]byte{"big.bin": bytes.Repeat([]byte("a"), 80_000)})
	if err := put(qB, "big2.bin", bytes.Repeat([]byte("b"), 80_000)); err != nil {
		t.Errorf("80 kB upload on B after A freed the quota: %v", err)
	}
	_, eB := spaces("e", tenants.Options{MaxEntries: 3}, map[string][]byte{"x": []byte("x"), "y": []byte("y"), "z": []byte("z")})
	if err := put(eB, "w", []byte("w")); err != nil {
		t.Errorf("upload on B after A freed the entry limit: %v", err)
	}
	if _, _, err := eB.Mkdir(ctx, "d", tenants.Source{}); err != nil {
		t.Errorf("mkdir on B after A freed the entry limit: %v", err)
	}
	for _, sp := range []*tenants.Space{qB, eB} {
		u, err := sp.Usage(ctx)
		if err != nil || (sp == qB && u.Used != 80_000) || (sp == eB && u.Entries != 2) {
			t.Errorf("usage of %s on B: %+v, %v", sp.Name(), u, err)
		}
	}
	// The limits still hold: B refuses what does not fit.
	if err := put(qB, "big3.bin", bytes.Repeat([]byte("c"), 30_000)); err == nil {
		t.Error("B accepted an upload over the quota")
	}
	if err := put(eB, "v", []byte("v")); err != nil {
		t.Errorf("third entry on B: %v", err)
	}
	if _, _, err := eB.Mkdir(ctx, "d2", tenants.Source{}); err == nil {
		t.Error("B accepted a fourth entry")
	}
}
