package syncclient

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

// tlsServer is an HTTPS server with HTTP/2 on (as syncd's) that answers /api/list and
// subscribes WebSockets on /ws; caFile trusts its certificate.
func tlsServer(t *testing.T) (srv *httptest.Server, caFile string, alpn chan string) {
	t.Helper()
	alpn = make(chan string, 4)
	up := websocket.Upgrader{}
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/list":
			w.Write([]byte(`{"epoch":"e","seq":3,"entries":[]}`))
		case "/ws":
			alpn <- r.TLS.NegotiatedProtocol
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			var sub protocol.Message
			if err := conn.ReadJSON(&sub); err != nil || sub.Type != protocol.TypeSubscribe {
				return
			}
			conn.WriteJSON(protocol.Message{Type: protocol.TypeAck, OperationID: protocol.SubscribeOperationID, Seq: 3, Epoch: "e"})
			conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1012, "restart"))
			conn.ReadMessage()
		default:
			http.NotFound(w, r)
		}
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}} // as syncd's
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, caFile, alpn
}

func listOnce(t *testing.T, c *Client) error {
	t.Helper()
	return c.List(t.Context(), func(string, int64) error { return nil }, func(protocol.Metadata) error { return nil })
}

// Issue 11 item 1: after an HTTP request (HTTP/2 configures itself on the transport's
// TLS config and adds "h2" to its ALPN list), a wss dial must still work, over
// http/1.1.
func TestSubscribeOverTLSAfterHTTP2(t *testing.T) {
	srv, ca, alpn := tlsServer(t)
	c, err := New(Options{Server: srv.URL, Token: "t", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := listOnce(t, c); err != nil {
		t.Fatalf("list over https: %v", err)
	}
	for i := 0; i < 2; i++ { // twice: a reconnect must work as well
		st, ack, err := c.Subscribe(t.Context(), "cid", -1, "")
		if err != nil {
			t.Fatalf("subscribe over wss (attempt %d): %v", i+1, err)
		}
		if ack.Seq != 3 {
			t.Fatalf("ack %+v", ack)
		}
		if p := <-alpn; p != "http/1.1" {
			t.Fatalf("the WebSocket negotiated %q, want http/1.1", p)
		}
		// The server closes with 1012: the engine must see the code.
		_, err = st.Recv(t.Context())
		var ce *engine.CloseError
		if !errors.As(err, &ce) || ce.Code != 1012 {
			t.Fatalf("close 1012 not carried: %v", err)
		}
		st.Close()
	}
}

// Issue 13 item 5: errors a new user meets name the URL and say what to do.
func TestNetworkErrorsExplain(t *testing.T) {
	srv, _, _ := tlsServer(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			http.Error(w, "no upgrades here", http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"epoch":"e","seq":0,"entries":[]}`))
	}))
	t.Cleanup(plain.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tlsAddr := srv.Listener.Addr().String()

	cases := []struct {
		name, server string
		ws           bool
		want         []string
		unreachable  bool
	}{
		{"untrusted certificate", srv.URL, false, []string{"--ca-file", "SSL_CERT_FILE", "GET " + srv.URL + "/api/list"}, true},
		{"untrusted certificate wss", srv.URL, true, []string{"--ca-file", "wss://" + tlsAddr + "/ws"}, true},
		{"http to a TLS port", "http://" + tlsAddr, false, []string{"speaks TLS", "https://", "http://" + tlsAddr + "/api/list"}, false},
		{"ws to a TLS port", "ws://" + tlsAddr, true, []string{"speaks TLS", "ws://" + tlsAddr + "/ws"}, false},
		{"https to a plain port", strings.Replace(plain.URL, "http://", "https://", 1), false, []string{"plain HTTP", plain.Listener.Addr().String() + "/api/list"}, true},
		{"connection refused", closed, false, []string{"GET " + closed + "/api/list", "refused"}, true},
		{"connection refused ws", closed, true, []string{strings.Replace(closed, "http", "ws", 1) + "/ws", "refused"}, true},
		{"websocket refused by a proxy", plain.URL, true, []string{"websocket " + strings.Replace(plain.URL, "http", "ws", 1) + "/ws refused (502)"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Options{Server: tc.server, Token: "secret-token"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.ws {
				_, _, err = c.Subscribe(t.Context(), "cid", -1, "")
			} else {
				err = listOnce(t, c)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "secret-token") {
				t.Error("token in an error")
			}
			if got := errors.Is(err, engine.ErrUnreachable); got != tc.unreachable {
				t.Errorf("unreachable = %v, want %v (%v)", got, tc.unreachable, err)
			}
		})
	}
}

// A proxy answering 502/503/504 means the server is out of reach (offline); other
// answers do not, and a refused WebSocket upgrade never does (HTTP may still work).
func TestGatewayErrorsAreUnreachable(t *testing.T) {
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{Server: srv.URL, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status      int
		unreachable bool
		code        protocol.Code
	}{{502, true, protocol.CodeUnavailable}, {503, true, protocol.CodeUnavailable}, {504, true, protocol.CodeUnavailable}, {500, false, protocol.CodeInternal}, {404, false, protocol.CodeNotFound}} {
		status = tc.status
		err := listOnce(t, c)
		if errors.Is(err, engine.ErrUnreachable) != tc.unreachable || protocol.CodeOf(err) != tc.code || !strings.Contains(err.Error(), srv.URL+"/api/list") {
			t.Errorf("HTTP %d: %v (unreachable %v)", tc.status, err, errors.Is(err, engine.ErrUnreachable))
		}
		_, _, err = c.Subscribe(t.Context(), "cid", -1, "")
		if errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("HTTP %d on /ws counted as unreachable: %v", tc.status, err)
		}
	}
}
