//go:build !windows

package daemon

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestResumeOnAnotherNodeAtOnce: a client gets seq 1 from node A (its upload's
// answer) and resumes on node B at once, while B has not heard of that commit yet (the
// bus is down, so B would learn of it from its head check within a second). B must
// resume it (Ack, no ResyncRequired) and deliver what follows, not tell it that its
// seq lies beyond the head (SPEC §7.1: resume works on any node).
func TestResumeOnAnotherNodeAtOnce(t *testing.T) {
	r := startOwnRedis(t)
	nodes := startCluster(t, 2, r.url())
	a, b := nodes[0], nodes[1]
	writer, reader := teamTokens(t, a)
	seqs := wsReader(t, b, reader) // B has the tenant's space open and live
	r.stop()
	put := func(name string) (seq int64) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, "http://"+a.Addr()+"/api/files/"+name, strings.NewReader(name))
		req.Header.Set("Authorization", "Bearer "+writer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Seq int64 `json:"seq"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT on A: %d %v", resp.StatusCode, err)
		}
		return m.Seq
	}
	var epoch string
	{
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/api/changes?since=0", nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Epoch string `json:"epoch"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || page.Epoch == "" {
			t.Fatalf("changes on A: %v", err)
		}
		epoch = page.Epoch
	}
	seq := put("one.txt")
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+b.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + reader}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "resumer", "since": seq, "epoch": epoch}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack map[string]any
	if err := ws.ReadJSON(&ack); err != nil || ack["type"] != "Ack" {
		t.Fatalf("ack %v %v", ack, err)
	}
	next := put("two.txt")
	for {
		var ev struct {
			Type string `json:"type"`
			Seq  int64  `json:"seq"`
		}
		if err := ws.ReadJSON(&ev); err != nil {
			t.Fatalf("waiting for seq %d on B: %v", next, err)
		}
		if ev.Type == "ResyncRequired" {
			t.Fatalf("B answered a resume from seq %d, just committed on A, with ResyncRequired", seq)
		}
		if ev.Type == "FileOperation" {
			if ev.Seq != next {
				t.Fatalf("B sent seq %d after a resume from %d, want %d", ev.Seq, seq, next)
			}
			break
		}
	}
	for want := int64(1); want <= next; want++ { // the live subscriber too, in order
		select {
		case s := <-seqs:
			if s != want {
				t.Fatalf("B's live subscriber got seq %d, want %d", s, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("B's live subscriber is still waiting for seq %d", want)
		}
	}
}
