package localbus

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/tenants"
)

func TestPublishOrderAndStop(t *testing.T) {
	b := New()
	ctx := context.Background()
	var a, c []int64
	stopA := b.Subscribe(func(n tenants.Notice) { a = append(a, n.Last) }, nil)
	if err := b.Publish(ctx, tenants.Notice{TenantName: "t", First: 1, Last: 1}); err != nil {
		t.Fatal(err)
	}
	b.Subscribe(func(n tenants.Notice) { c = append(c, n.Last) }, nil)
	for seq := int64(2); seq <= 4; seq++ {
		if seq == 4 {
			stopA()
			stopA() // twice is harmless
		}
		if err := b.Publish(ctx, tenants.Notice{TenantName: "t", First: seq, Last: seq}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		got, want []int64
	}{
		{"first subscriber (stopped before 4)", a, []int64{1, 2, 3}},
		{"second subscriber (subscribed after 1)", c, []int64{2, 3, 4}},
	} {
		if len(tc.got) != len(tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
		for i := range tc.got {
			if tc.got[i] != tc.want[i] {
				t.Fatalf("%s: %v, want %v", tc.name, tc.got, tc.want)
			}
		}
	}
}

// TestPerPublisherOrder publishes from several goroutines at once, each its own tenant
// in seq order: every subscriber sees each tenant's notices in that order.
func TestPerPublisherOrder(t *testing.T) {
	b := New()
	var mu sync.Mutex
	last := map[string]int64{}
	b.Subscribe(func(n tenants.Notice) {
		mu.Lock()
		defer mu.Unlock()
		if n.First != last[n.TenantName]+1 {
			t.Errorf("%s: notice %d-%d after %d", n.TenantName, n.First, n.Last, last[n.TenantName])
		}
		last[n.TenantName] = n.Last
	}, nil)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			for seq := int64(1); seq <= 200; seq += 2 {
				if err := b.Publish(context.Background(), tenants.Notice{TenantName: name, First: seq, Last: seq + 1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, name := range []string{"a", "b", "c", "d"} {
		if last[name] != 200 {
			t.Errorf("%s: last %d, want 200", name, last[name])
		}
	}
}

func TestClose(t *testing.T) {
	b := New()
	called := false
	b.Subscribe(func(tenants.Notice) { called = true }, nil)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), tenants.Notice{First: 1, Last: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if called {
		t.Fatal("subscriber called after close")
	}
}
