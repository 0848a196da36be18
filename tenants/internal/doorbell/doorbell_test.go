package doorbell

import (
	"reflect"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

func TestEncodeDecode(t *testing.T) {
	n := tenants.Notice{TenantID: "id-1", TenantName: "team", Epoch: "ep", First: 4, Last: 9,
		Events: []protocol.Event{{}}}
	b, err := Encode(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	n.Events = nil
	if err != nil || !reflect.DeepEqual(got, n) {
		t.Fatalf("got %+v, %v; want %+v", got, err, n)
	}
	if len(b) > 100 {
		t.Errorf("payload %d bytes: %s", len(b), b)
	}
	for _, bad := range []tenants.Notice{{First: 1, Last: 1}, {TenantID: "x", First: 0, Last: 1}, {TenantID: "x", First: 3, Last: 2}} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("Encode(%+v) accepted", bad)
		}
	}
	for _, bad := range []string{"", "{}", `{"t":"x","f":2,"l":1}`, "nope"} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestSession(t *testing.T) {
	losses := 0
	s := NewSession(func() { losses++ })
	s.Connected()
	select {
	case <-s.Ready():
	default:
		t.Fatal("not ready after the first connection")
	}
	if losses != 0 {
		t.Fatalf("first connection reported %d losses", losses)
	}
	s.Connected()
	s.Connected()
	if losses != 2 {
		t.Fatalf("%d losses after two reconnects, want 2", losses)
	}
	late := 0
	s2 := NewSession(func() { late++ })
	s2.GiveUp()
	s2.Connected()
	if late != 1 {
		t.Fatalf("a first connection after Subscribe gave up reported %d losses, want 1", late)
	}
}

// TestSessionUp: a session is up from a connection until the next failure, and Lost
// reports only the first failure of an outage.
func TestSessionUp(t *testing.T) {
	s := NewSession(func() {})
	if s.Up() {
		t.Fatal("up before any connection")
	}
	if s.Lost() {
		t.Fatal("a failure before any connection reported as the end of one")
	}
	s.Connected()
	if !s.Up() {
		t.Fatal("not up after connecting")
	}
	if !s.Lost() || s.Lost() || s.Up() {
		t.Fatal("Lost: want true once, then false, and the session down")
	}
	s.Connected()
	if !s.Up() {
		t.Fatal("not up after reconnecting")
	}
}

type fakeSub struct {
	up    bool
	stops int
}

func (f *fakeSub) Stop()    { f.stops++ }
func (f *fakeSub) Up() bool { return f.up }

// TestSet: Up is true only while every subscription is up; each subscription is
// stopped exactly once, whether by Remove (twice), by Close, or by Remove after Close;
// Close refuses later subscriptions and reports only its first call.
func TestSet(t *testing.T) {
	var s Set
	if !s.Up() {
		t.Fatal("an empty set is not up")
	}
	a, b := &fakeSub{up: true}, &fakeSub{}
	if !s.Add(a) || !s.Add(b) {
		t.Fatal("Add refused on an open set")
	}
	if s.Up() {
		t.Fatal("up with a subscription down")
	}
	s.Remove(b)
	s.Remove(b)
	if !s.Up() || b.stops != 1 {
		t.Fatalf("after removing the down one: up %v, stops %d", s.Up(), b.stops)
	}
	if !s.Close() || s.Close() {
		t.Fatal("Close reports its first call only")
	}
	s.Remove(a)
	if a.stops != 1 {
		t.Fatalf("a stopped %d times", a.stops)
	}
	c := &fakeSub{}
	if s.Add(c) || c.stops != 0 {
		t.Fatal("Add accepted on a closed set")
	}
}
