//go:build !windows

package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
)

// TestQuotaRaceAcrossNodes: 48 parallel uploads of 4 KiB through nginx (so on all
// three nodes) into a tenant with a 64 KiB quota. The tenant never ends over quota:
// the others are refused with 413, and the tenant holds exactly the acknowledged
// files, within the quota.
func TestQuotaRaceAcrossNodes(t *testing.T) {
	needServices(t)
	c := startCluster(t, servicetest.Redis(t))
	const quota, size, n = 64 << 10, 4 << 10, 48
	writer, reader := c.tenant(t, "t"+servicetest.Name(t), "--quota", fmt.Sprint(quota))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	body := strings.Repeat("q", size)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := put(ctx, "http://"+c.proxy, writer, fmt.Sprintf("q%02d.bin", i), body)
			if err != nil {
				t.Errorf("upload %d: %v", i, err)
				return
			}
			mu.Lock()
			statuses[st]++
			if st != http.StatusCreated && statuses[st] == 1 {
				t.Logf("upload %d: status %d", i, st)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	okN := statuses[http.StatusCreated]
	if okN+statuses[http.StatusRequestEntityTooLarge] != n || okN == 0 {
		t.Fatalf("statuses %v: want only 201 and 413, some 201", statuses)
	}
	if okN*size > quota {
		t.Fatalf("%d uploads of %d bytes acknowledged: over the %d quota", okN, size, quota)
	}
	var list struct {
		Entries []struct {
			Path string `json:"path"`
			Size int64  `json:"size"`
		} `json:"entries"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.proxy+"/api/list", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %v", resp.StatusCode, err)
	}
	var stored int64
	for _, e := range list.Entries {
		stored += e.Size
	}
	if stored > quota || len(list.Entries) != okN || stored != int64(okN*size) {
		t.Errorf("the tenant holds %d files, %d bytes; want the %d acknowledged (%d bytes), at most %d", len(list.Entries), stored, okN, okN*size, quota)
	}
	for _, nd := range c.nodes {
		// Every node reports the cluster's usage (the index's head row), not only
		// what was uploaded through it.
		if u := usage(ctx, t, nd.addr, reader); u != stored {
			t.Errorf("usage on %s: used %d, want %d (what the tenant holds)", nd.addr, u, stored)
		}
	}
	t.Logf("statuses %v", statuses)
}

// usage returns the used bytes GET /api/usage reports on addr.
func usage(ctx context.Context, t *testing.T, addr, token string) int64 {
	t.Helper()
	var u struct {
		Used int64 `json:"used"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/usage", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("usage on %s: %d %v", addr, resp.StatusCode, err)
	}
	return u.Used
}
