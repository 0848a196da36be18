package redisbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/internal/bustest"
	"github.com/syncspace/syncspace/tenants/redisbus"
)

func TestBus(t *testing.T) {
	url := servicetest.Redis(t)
	bustest.Run(t, func(t *testing.T) bustest.Cluster {
		name := "syncspace-test-" + servicetest.Name(t)
		nodeURL := url + "?client_name=" + name
		if strings.Contains(url, "?") {
			nodeURL = url + "&client_name=" + name
		}
		return bustest.Cluster{
			Node: func(t *testing.T) tenants.Bus {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				b, err := redisbus.New(ctx, nodeURL, redisbus.Options{Channel: name})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			},
			KillSubscribers: func(t *testing.T) { killPubSub(t, url, name) },
		}
	})
}

// killPubSub ends the pub/sub connections named name (this test's own: other tests
// share the server).
func killPubSub(t *testing.T, url, name string) {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(o)
	defer admin.Close()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || !strings.Contains(line, "sub=1") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no subscriber connection named %s in CLIENT LIST:\n%s", name, list)
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	ctx := context.Background()
	if _, err := redisbus.New(ctx, "http://example", redisbus.Options{}); err == nil {
		t.Error("http URL accepted")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := redisbus.New(ctx, "redis://127.0.0.1:1/0", redisbus.Options{}); err == nil {
		t.Error("New succeeded with no server")
	}
}
