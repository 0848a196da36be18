// Package protocol holds syncspace's wire vocabulary, shared by the server and the
// client: file metadata, change events (the WebSocket FileOperation frame, which is
// also one /api/changes event), the WebSocket messages of SPEC §4, and the error codes
// of SPEC §3. It imports only the standard library so that every other package may
// depend on it.
package protocol

import (
	"time"
)

// Metadata describes one file or directory as the server stores it (SPEC §3).
// Hash is the lowercase hex SHA-256 of the content, "" for directories. Modified is
// the stored mtime in UTC; it never decides a conflict. Seq is the change that last
// wrote the entry (0 when unknown).
type Metadata struct {
	Path        string    `json:"path"`
	Size        int64     `json:"size"`
	Modified    time.Time `json:"modified"`
	Hash        string    `json:"hash"`
	IsDirectory bool      `json:"is_directory"`
	Seq         int64     `json:"seq"`
}

// OpMeta is the body of Create, Update and Delete operations.
type OpMeta struct {
	Metadata Metadata `json:"metadata"`
}

// MoveOp is the body of a Move operation: From is the old path, Metadata.Path the new.
type MoveOp struct {
	From     string   `json:"from"`
	Metadata Metadata `json:"metadata"`
}

// Operation is a tagged union: exactly one field is non-nil in a valid operation.
type Operation struct {
	Create *OpMeta `json:"Create,omitempty"`
	Update *OpMeta `json:"Update,omitempty"`
	Delete *OpMeta `json:"Delete,omitempty"`
	Move   *MoveOp `json:"Move,omitempty"`
}

// Operation kinds, as stored in the change log.
const (
	OpCreate = "Create"
	OpUpdate = "Update"
	OpDelete = "Delete"
	OpMove   = "Move"
)

// Kind returns the name of the one operation set ("" if none or several are set).
func (o Operation) Kind() string {
	kind, n := "", 0
	if o.Create != nil {
		kind, n = OpCreate, n+1
	}
	if o.Update != nil {
		kind, n = OpUpdate, n+1
	}
	if o.Delete != nil {
		kind, n = OpDelete, n+1
	}
	if o.Move != nil {
		kind, n = OpMove, n+1
	}
	if n != 1 {
		return ""
	}
	return kind
}

// Meta returns the metadata carried by the operation (the new path's for a Move).
func (o Operation) Meta() Metadata {
	switch {
	case o.Create != nil:
		return o.Create.Metadata
	case o.Update != nil:
		return o.Update.Metadata
	case o.Delete != nil:
		return o.Delete.Metadata
	case o.Move != nil:
		return o.Move.Metadata
	}
	return Metadata{}
}

// NewOperation builds an operation of the given kind. from is used only for Move.
func NewOperation(kind, from string, meta Metadata) Operation {
	switch kind {
	case OpCreate:
		return Operation{Create: &OpMeta{Metadata: meta}}
	case OpUpdate:
		return Operation{Update: &OpMeta{Metadata: meta}}
	case OpDelete:
		return Operation{Delete: &OpMeta{Metadata: meta}}
	case OpMove:
		return Operation{Move: &MoveOp{From: from, Metadata: meta}}
	}
	return Operation{}
}

// Event is one committed change of a tenant: the WebSocket FileOperation frame the
// server sends, and one element of /api/changes "events". Type is always
// TypeFileOperation.
type Event struct {
	Type          string    `json:"type"`
	Seq           int64     `json:"seq"`
	Operation     Operation `json:"operation"`
	SourceClient  string    `json:"source_client"`
	SourceSubject string    `json:"source_subject"`
}

// Message types of SPEC §4.
const (
	TypeAuth           = "Auth"
	TypeSubscribe      = "Subscribe"
	TypeFileOperation  = "FileOperation"
	TypePing           = "Ping"
	TypePong           = "Pong"
	TypeRefresh        = "Refresh"
	TypeAck            = "Ack"
	TypeResyncRequired = "ResyncRequired"
	TypeError          = "Error"
)

// WebSocket close codes of SPEC §4.
const (
	CloseGoingAway        = 1001
	ClosePolicyViolation  = 1008
	CloseTooBig           = 1009
	CloseUnauthenticated  = 4001
	CloseForbidden        = 4003
	CloseTokenExpired     = 4004
	CloseTokenRevoked     = 4005
	CloseSlowConsumer     = 4008
	SubscribeOperationID  = "subscribe"
	MaxReplayGap          = 10000
	MaxFramePreAuth       = 8 << 10
	DefaultChangesLimit   = 1000
	MaxChangesLimit       = 10000
	MaxJSONBody           = 64 << 10
	MaxTokenBytes         = 4 << 10
	ClientIDPatternString = `^[A-Za-z0-9._-]{1,64}$`
)

// ChangesPage is the body of GET /api/changes.
type ChangesPage struct {
	Epoch  string  `json:"epoch"`
	Seq    int64   `json:"seq"`
	Events []Event `json:"events"`
	More   bool    `json:"more"`
}

// Version is one kept earlier content of a path (GET /api/versions).
type Version struct {
	ID         string    `json:"id"`
	Size       int64     `json:"size"`
	Hash       string    `json:"hash"`
	Modified   time.Time `json:"modified"`
	ReplacedAt time.Time `json:"replaced_at"`
}

// Usage is the body of GET /api/usage. Zero Quota or MaxEntries means unlimited.
type Usage struct {
	Used       int64 `json:"used"`
	Quota      int64 `json:"quota"`
	Entries    int64 `json:"entries"`
	MaxEntries int64 `json:"max_entries"`
}
