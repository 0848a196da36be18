package syncclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/syncspace/syncspace/sync/protocol"
)

// List implements engine.Remote: GET /api/list?recursive=true, decoded as a stream.
func (c *Client) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL("/api/list", url.Values{"recursive": {"true"}}), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return DecodeList(resp.Body, head, each)
}

// DecodeList decodes a /api/list body entry by entry: head gets the epoch and seq
// before the first entry (entries that arrive before them are held back).
func DecodeList(r io.Reader, head func(string, int64) error, each func(protocol.Metadata) error) error {
	d := &listDecoder{dec: json.NewDecoder(r), head: head, each: each}
	if t, err := d.dec.Token(); err != nil || t != json.Delim('{') {
		return badList("not an object")
	}
	for d.dec.More() {
		t, err := d.dec.Token()
		if err != nil {
			return badList(err.Error())
		}
		key, _ := t.(string)
		if err := d.field(key); err != nil {
			return err
		}
	}
	if !d.haveSeq {
		return badList("no seq")
	}
	if err := d.callHead(); err != nil {
		return err
	}
	for _, m := range d.held {
		if err := each(m); err != nil {
			return err
		}
	}
	return nil
}

// badList is the error of a list answer that cannot be decoded.
func badList(what string) error {
	return protocol.Errorf(protocol.CodeInternal, "bad list answer from the server: %s", what)
}

// listDecoder is DecodeList's state: the head once known, entries held back until
// then.
type listDecoder struct {
	dec                          *json.Decoder
	head                         func(string, int64) error
	each                         func(protocol.Metadata) error
	epoch                        string
	seq                          int64
	haveEpoch, haveSeq, headDone bool
	held                         []protocol.Metadata
	raw                          json.RawMessage // the entry being decoded
}

// callHead calls head once.
func (d *listDecoder) callHead() error {
	if d.headDone {
		return nil
	}
	d.headDone = true
	return d.head(d.epoch, d.seq)
}

// field decodes the value of one top-level key.
func (d *listDecoder) field(key string) error {
	switch key {
	case "epoch":
		if err := d.dec.Decode(&d.epoch); err != nil {
			return badList("epoch")
		}
		d.haveEpoch = true
	case "seq":
		if err := d.dec.Decode(&d.seq); err != nil {
			return badList("seq")
		}
		d.haveSeq = true
	case "entries":
		return d.entries()
	default:
		var skip json.RawMessage
		if err := d.dec.Decode(&skip); err != nil {
			return badList("field")
		}
	}
	return nil
}

// entries decodes the entries array (or null), passing each entry on once the head is
// known and holding it back before.
func (d *listDecoder) entries() error {
	if t, err := d.dec.Token(); err != nil || t != json.Delim('[') {
		if t == nil && err == nil {
			return nil // null
		}
		return badList("entries")
	}
	for d.dec.More() {
		var m protocol.Metadata
		if err := d.dec.Decode(&d.raw); err != nil {
			return badList("entry")
		}
		if !plainEntry(d.raw, &m) {
			m = protocol.Metadata{}
			if err := json.Unmarshal(d.raw, &m); err != nil {
				return badList("entry")
			}
		}
		if !d.haveEpoch || !d.haveSeq {
			d.held = append(d.held, m)
			continue
		}
		if err := d.callHead(); err != nil {
			return err
		}
		if err := d.each(m); err != nil {
			return err
		}
	}
	if _, err := d.dec.Token(); err != nil {
		return badList("entries end")
	}
	return nil
}
