package redisbus_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
		cut := &aclUser{t: t, url: url, name: name}
		return bustest.Cluster{
			Node: func(t *testing.T) tenants.Bus {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				b, err := redisbus.New(ctx, cut.nodeURL(nodeURL), redisbus.Options{Channel: name})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			},
			KillSubscribers: func(t *testing.T) { killPubSub(t, url, name) },
			Cut:             cut.cut,
		}
	})
}

// aclUser is a Redis user of the test's own (the server is shared): nodes log in as
// it, and cut disables it and ends its connections, so that nodes cannot reconnect
// until restore enables it again.
type aclUser struct {
	t         *testing.T
	url, name string
	once      sync.Once
}

// nodeURL returns url logged in as the user, creating the user first.
func (u *aclUser) nodeURL(url string) string {
	u.once.Do(func() {
		u.acl(u.t, "ACL", "SETUSER", u.name, "on", ">"+u.name, "~*", "&*", "+@all")
		u.t.Cleanup(func() { u.acl(u.t, "ACL", "DELUSER", u.name) })
	})
	return strings.Replace(url, "redis://", "redis://"+u.name+":"+u.name+"@", 1)
}

func (u *aclUser) cut(t *testing.T) (restore func()) {
	u.acl(t, "ACL", "SETUSER", u.name, "off")
	u.acl(t, "CLIENT", "KILL", "USER", u.name)
	var once sync.Once
	restore = func() { once.Do(func() { u.acl(t, "ACL", "SETUSER", u.name, "on") }) }
	t.Cleanup(restore)
	return restore
}

// acl runs an admin command as the default user.
func (u *aclUser) acl(t *testing.T, args ...any) {
	t.Helper()
	o, err := redis.ParseURL(u.url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(o)
	defer admin.Close()
	if err := admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
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

// blackhole forwards TCP connections to target until freeze, after which the
// connections open at that moment silently drop everything (a dead peer whose socket
// never closes); later connections are forwarded again.
type blackhole struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			frozen := new(atomic.Bool)
			b.mu.Lock()
			b.conns = append(b.conns, frozen)
			b.mu.Unlock()
			t.Cleanup(func() { c.Close(); up.Close() })
			go pipe(up, c, frozen)
			go pipe(c, up, frozen)
		}
	}()
	return b
}

func pipe(dst, src net.Conn, frozen *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (b *blackhole) freeze() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.conns {
		f.Store(true)
	}
	b.conns = nil
}

// TestSilentConnection: a subscription whose connection goes silent (no close, no
// answer) is noticed by its health check, subscribed again, and reported as a loss.
func TestSilentConnection(t *testing.T) {
	url := servicetest.Redis(t)
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	hole := newBlackhole(t, o.Addr)
	channel := "syncspace-test-" + servicetest.Name(t)
	ctx := context.Background()
	pub, err := redisbus.New(ctx, url, redisbus.Options{Channel: channel})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	subURL := "redis://" + hole.ln.Addr().String() + "/" + strconv.Itoa(o.DB)
	sub, err := redisbus.New(ctx, subURL, redisbus.Options{Channel: channel, HealthInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan int64, 16)
	lost := make(chan struct{}, 16)
	stop := sub.Subscribe(func(n tenants.Notice) { got <- n.First }, func() { lost <- struct{}{} })
	defer stop()
	want := func(seq int64) {
		t.Helper()
		if err := pub.Publish(ctx, tenants.Notice{TenantID: "t", Epoch: "e", First: seq, Last: seq}); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != seq {
				t.Fatalf("got seq %d, want %d", s, seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("seq %d not delivered", seq)
		}
	}
	want(1)
	hole.freeze()
	if err := pub.Publish(ctx, tenants.Notice{TenantID: "t", Epoch: "e", First: 2, Last: 2}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-lost:
		t.Logf("loss reported %v after the connection went silent", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("no loss reported for a silent connection")
	}
	want(3)
}
