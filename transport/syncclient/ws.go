package syncclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

// WebSocket timing of the client side.
const (
	pingEvery   = 25 * time.Second
	readTimeout = 75 * time.Second // the server pings every 30 s
	ackTimeout  = 15 * time.Second
	maxFrame    = 32 << 20 // a batched frame may hold many events
)

// stream is one live subscription.
type stream struct {
	c    *Client
	conn *websocket.Conn
	wmu  sync.Mutex
	q    []protocol.Message
	done chan struct{}
	once sync.Once
}

// DecodeFrame decodes one text frame from the server: one JSON message, or with batch
// several separated by '\n'. Empty lines are skipped; a message without a type is an
// error.
func DecodeFrame(data []byte) ([]protocol.Message, error) {
	var out []protocol.Message
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var m protocol.Message
		if err := json.Unmarshal(line, &m); err != nil {
			return out, fmt.Errorf("malformed message from the server: %w", err)
		}
		if m.Type == "" {
			return out, errors.New("message from the server without a type")
		}
		out = append(out, m)
	}
	return out, nil
}

// EventOf turns a FileOperation message into an event (ok false for other types or a
// message without an operation).
func EventOf(m protocol.Message) (protocol.Event, bool) {
	if m.Type != protocol.TypeFileOperation || m.Operation == nil {
		return protocol.Event{}, false
	}
	return protocol.Event{Type: m.Type, Seq: m.Seq, Operation: *m.Operation, SourceClient: m.SourceClient, SourceSubject: m.SourceSubject}, true
}

// Subscribe implements engine.Remote: it dials /ws with the bearer token, sends
// Subscribe (batch on, since/epoch when since >= 0) and waits for the Ack.
func (c *Client) Subscribe(ctx context.Context, clientID string, since int64, epoch string) (engine.Stream, protocol.Message, error) {
	h := http.Header{}
	h.Set("Authorization", c.bearer())
	dctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	conn, resp, err := c.dialer.DialContext(dctx, c.ws.String(), h)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				if resp.StatusCode == http.StatusUnauthorized {
					c.authFailed()
				}
				e := decodeError(resp)
				e.Message = fmt.Sprintf("websocket %s refused (%d): %s", redact(c.ws), resp.StatusCode, e.Message)
				return nil, protocol.Message{}, e
			}
		}
		if errors.Is(err, websocket.ErrBadHandshake) {
			return nil, protocol.Message{}, &protocol.Error{Code: protocol.CodeUnavailable, Message: "websocket " + redact(c.ws), Err: err}
		}
		return nil, protocol.Message{}, netError("websocket", c.ws, err)
	}
	conn.SetReadLimit(maxFrame)
	s := &stream{c: c, conn: conn, done: make(chan struct{})}
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error {
		return conn.SetReadDeadline(time.Now().Add(readTimeout))
	})
	sub := protocol.Message{Type: protocol.TypeSubscribe, ClientID: clientID, Batch: true}
	if since >= 0 && epoch != "" {
		sub.Since, sub.Epoch = &since, epoch
	}
	if err := s.write(sub); err != nil {
		conn.Close()
		return nil, protocol.Message{}, &protocol.Error{Code: protocol.CodeUnavailable, Message: "websocket closed", Err: err}
	}
	_ = conn.SetReadDeadline(time.Now().Add(ackTimeout))
	var ack protocol.Message
	for {
		m, err := s.recv()
		if err != nil {
			conn.Close()
			return nil, protocol.Message{}, err
		}
		if m.Type == protocol.TypeAck && m.OperationID == protocol.SubscribeOperationID {
			ack = m
			break
		}
		if m.Type == protocol.TypeError {
			conn.Close()
			return nil, protocol.Message{}, &protocol.Error{Code: m.Code, Message: m.Message}
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	c.mu.Lock()
	c.streams[s] = true
	c.mu.Unlock()
	go s.keepalive(ctx)
	return s, ack, nil
}

// write sends one message (one writer at a time).
func (s *stream) write(m protocol.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

// keepalive pings the server and closes the connection when ctx ends.
func (s *stream) keepalive(ctx context.Context) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return
		case <-s.done:
			return
		case <-t.C:
			if err := s.write(protocol.Message{Type: protocol.TypePing}); err != nil {
				s.Close()
				return
			}
		}
	}
}

// recv returns the next message, reading a frame when none is queued.
func (s *stream) recv() (protocol.Message, error) {
	for len(s.q) == 0 {
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			cerr := closeError(err)
			if protocol.CodeOf(cerr) == protocol.CodeUnauthenticated {
				s.c.authFailed()
			}
			return protocol.Message{}, cerr
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(readTimeout))
		if typ != websocket.TextMessage {
			continue
		}
		msgs, err := DecodeFrame(data)
		s.q = append(s.q, msgs...)
		if err != nil {
			s.c.log.Warn("skipping a malformed frame from the server", "err", err)
		}
	}
	m := s.q[0]
	s.q = s.q[1:]
	return m, nil
}

// closeError explains why a connection ended.
func closeError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code := protocol.CodeUnavailable
		switch ce.Code {
		case protocol.CloseUnauthenticated, protocol.CloseTokenExpired, protocol.CloseTokenRevoked:
			code = protocol.CodeUnauthenticated
		case protocol.CloseForbidden:
			code = protocol.CodeForbidden
		}
		return &protocol.Error{Code: code, Message: "websocket", Err: &engine.CloseError{Code: ce.Code, Text: ce.Text}}
	}
	return &protocol.Error{Code: protocol.CodeUnavailable, Message: "websocket connection lost", Err: err}
}

// Recv implements engine.Stream.
func (s *stream) Recv(ctx context.Context) (protocol.Message, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Message{}, err
	}
	return s.recv()
}

// Close implements engine.Stream.
func (s *stream) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.c.mu.Lock()
		delete(s.c.streams, s)
		s.c.mu.Unlock()
		s.wmu.Lock()
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		s.wmu.Unlock()
		s.conn.Close()
	})
	return nil
}
