package hub

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
	"github.com/syncspace/syncspace/sync/protocol"
)

// writeLoop is the connection's only data writer. It runs while messages flow (see
// queue).
func (c *conn) writeLoop() {
	defer c.wg.Done()
	var spare []outItem
	for {
		items, ping, ok := c.q.take(spare)
		if !ok {
			return
		}
		if c.closing() {
			continue // take again: stops the writer once the queue is stopped or empty
		}
		err := c.writeItems(items, ping)
		clear(items)
		if cap(items) > 256 {
			items = nil
		}
		spare = items[:0]
		if err != nil && !c.closing() {
			c.close(0, "")
		}
	}
}

// writeItems writes everything taken from the queue (and a ping first when one is
// due) with as few socket writes as possible.
func (c *conn) writeItems(items []outItem, ping bool) error {
	fw := newFrameWriter(c)
	defer fw.release()
	if ping {
		fw.ping()
	}
	for i := range items {
		it := &items[i]
		if it.replay != nil {
			if err := fw.flush(); err != nil {
				return err
			}
			if err := c.runReplay(fw, it.replay); err != nil {
				return err
			}
			continue
		}
		if err := fw.add(it); err != nil {
			return err
		}
	}
	return fw.flush()
}

// writeRaw writes b, whole frames holding n messages, to the socket in one write
// with one write deadline. It refuses once the connection is closing, so that
// nothing follows the close frame.
func (c *conn) writeRaw(b []byte, n int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	nc := c.ws.NetConn()
	c.dlMu.Lock()
	if c.closing() {
		c.dlMu.Unlock()
		return errClosing
	}
	// Setting a deadline costs a runtime timer update: while the one set before is
	// still at least 90% of WriteTimeout away, it stays.
	now := time.Now().UnixNano()
	if to := int64(c.h.opts.WriteTimeout); c.wdl-now < to-to/10 {
		c.wdl = now + to
		_ = nc.SetWriteDeadline(time.Unix(0, c.wdl))
	}
	c.dlMu.Unlock()
	if n, err := nc.Write(b); err != nil {
		c.broken = c.broken || n > 0
		return err
	}
	c.msgsOut.Add(int64(n))
	return nil
}

// onPing answers a client's WebSocket ping (gorilla's reader calls it) in turn with
// the writer's socket writes.
func (c *conn) onPing(msg string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing() {
		return nil
	}
	err := c.ws.WriteControl(websocket.PongMessage, []byte(msg), time.Now().Add(c.h.opts.WriteTimeout))
	c.wdl = 0 // WriteControl set its own deadline
	var ne net.Error
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

// runReplay sends the retained events after r.since straight from the store, paced
// by the socket, then makes the connection live in its tenant hub exactly after the
// last event sent. If the store no longer holds them it sends ResyncRequired and the
// connection goes live after the head.
func (c *conn) runReplay(fw *frameWriter, r *replayReq) error {
	fw.replay = true
	defer func() { fw.replay = false }()
	since, group := r.since, r.group
	sp, th := c.space, c.th
	for {
		if c.closing() {
			return errClosing
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		page, err := sp.Changes(ctx, since, r.epoch, protocol.MaxChangesLimit)
		cancel()
		if group > 0 && protocol.CodeOf(err) == protocol.CodeResyncRequired {
			// The group's seq is no longer retained: resume after it.
			since, group = group, 0
			continue
		}
		if err != nil {
			if protocol.CodeOf(err) == protocol.CodeResyncRequired {
				epoch, head := th.goLiveHead(c, sp)
				if err := fw.add(&outItem{data: encodeResync(head, epoch)}); err != nil {
					return err
				}
				return fw.flush()
			}
			if c.closing() {
				return errClosing
			}
			c.h.log.Error("replay failed", "conn", c.id.String(), "tenant", c.tenant(), "err", err)
			c.close(websocket.CloseInternalServerErr, "internal error")
			return errClosing
		}
		if group > 0 {
			page.Events = dropSingle(page.Events, group)
			group = 0
		}
		start := since
		for i := range page.Events {
			ev := &page.Events[i]
			if ev.Seq <= start {
				continue
			}
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := fw.add(&outItem{data: data}); err != nil {
				return err
			}
			since = ev.Seq
		}
		// A scoped subscriber's page may leave events out: its seq is the last one
		// examined, and several events may share a seq (a directory moved in).
		if page.Seq > since {
			since = page.Seq
		}
		if err := fw.flush(); err != nil {
			return err
		}
		if page.More {
			continue
		}
		if th.goLive(c, since) {
			return nil
		}
		if len(page.Events) == 0 {
			// The hub has seen a later commit than the store showed us: let it land.
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// dropSingle leaves out the event of seq when it is the only one of that seq in evs
// (in seq order): a resuming scoped subscriber has it (tenantHub.subscribe).
func dropSingle(evs []protocol.Event, seq int64) []protocol.Event {
	n := 0
	for n < len(evs) && evs[n].Seq == seq {
		n++
	}
	if n == 1 {
		return evs[1:]
	}
	return evs
}
