package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsMsg is a server → client frame of SPEC §4.
type wsMsg struct {
	Type          string          `json:"type"`
	Seq           *int64          `json:"seq"`
	Epoch         string          `json:"epoch"`
	OperationID   string          `json:"operation_id"`
	Code          string          `json:"code"`
	Message       string          `json:"message"`
	Operation     json.RawMessage `json:"operation"`
	SourceClient  *string         `json:"source_client"`
	SourceSubject string          `json:"source_subject"`
	raw           []byte
}

// op returns the operation's kind (Create, Update, Delete, Move) and its metadata path.
func (m wsMsg) op(t testing.TB) (string, string) {
	t.Helper()
	var o map[string]struct {
		From     string `json:"from"`
		Metadata meta   `json:"metadata"`
	}
	if err := json.Unmarshal(m.Operation, &o); err != nil || len(o) != 1 {
		t.Fatalf("operation %s: want one of Create/Update/Delete/Move", m.Operation)
	}
	for k, v := range o {
		return k, v.Metadata.Path
	}
	return "", ""
}

func (m wsMsg) seq() int64 {
	if m.Seq == nil {
		return -1
	}
	return *m.Seq
}

// wsConn is a gorilla client of /ws.
type wsConn struct {
	c       *websocket.Conn
	pending [][]byte // messages of a batch frame not yet returned
}

func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/ws"
}

// dialRaw dials /ws with an optional bearer token and extra headers.
func dialRaw(base, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	for k, v := range hdr {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	return d.Dial(wsURL(base), h)
}

// dialWS dials /ws and fails the test unless the upgrade succeeds.
func dialWS(t testing.TB, base, token string, hdr http.Header) *wsConn {
	t.Helper()
	c, res, err := dialRaw(base, token, hdr)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial /ws: %v (status %d)", err, status)
	}
	t.Cleanup(func() { c.Close() })
	return &wsConn{c: c}
}

func (w *wsConn) send(t testing.TB, s string) {
	t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

// next returns the next message (5 s).
func (w *wsConn) next(t testing.TB) wsMsg {
	t.Helper()
	m, err := w.nextErr(5 * time.Second)
	if err != nil {
		t.Fatalf("ws read: %v", err)
	}
	return m
}

func (w *wsConn) nextErr(d time.Duration) (wsMsg, error) {
	if len(w.pending) == 0 {
		_ = w.c.SetReadDeadline(time.Now().Add(d))
		mt, data, err := w.c.ReadMessage()
		if err != nil {
			return wsMsg{}, err
		}
		if mt != websocket.TextMessage {
			return wsMsg{}, errors.New("server sent a non-text frame")
		}
		w.pending = bytes.Split(data, []byte("\n"))
	}
	data := w.pending[0]
	w.pending = w.pending[1:]
	var m wsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return wsMsg{}, err
	}
	m.raw = data
	return m, nil
}

// quiet fails if a message arrives within d.
func (w *wsConn) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	if m, err := w.nextErr(d); err == nil {
		t.Fatalf("unexpected message: %s", m.raw)
	}
}

// subscribe sends Subscribe and returns its Ack, which must come first.
func (w *wsConn) subscribe(t testing.TB, clientID string, since *int64, epoch string) wsMsg {
	t.Helper()
	m := map[string]any{"type": "Subscribe", "client_id": clientID}
	if since != nil {
		m["since"] = *since
	}
	if epoch != "" {
		m["epoch"] = epoch
	}
	b, _ := json.Marshal(m)
	w.send(t, string(b))
	ack := w.next(t)
	if ack.Type != "Ack" || ack.OperationID != "subscribe" || ack.Seq == nil || ack.Epoch == "" {
		t.Fatalf("first answer to Subscribe is not Ack{operation_id subscribe, seq, epoch}: %s", ack.raw)
	}
	return ack
}

// closeCode reads until the connection ends and returns its close code (-1 if it ended
// without a close frame).
func (w *wsConn) closeCode(t testing.TB, d time.Duration) int {
	t.Helper()
	return closeCodeOf(t, w.c, d)
}

func closeCodeOf(t testing.TB, c *websocket.Conn, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection not closed within %v", d)
		}
		return -1
	}
}

func int64p(n int64) *int64 { return &n }
