package hub

import (
	"encoding/json"
	"regexp"

	"github.com/syncspace/syncspace/sync/protocol"
)

// maxOperationID bounds the operation_id the server echoes back.
const maxOperationID = 256

var clientIDPattern = regexp.MustCompile(protocol.ClientIDPatternString)

// DecodeClientMessage decodes one client → server JSON message of SPEC §4 and checks
// that its type is known and the fields of that type are present and well formed.
// Unknown extra fields are ignored (older and newer clients). On failure it returns a
// *protocol.Error with code bad_request, together with whatever part of the message
// could be decoded (so that the Error frame can echo its operation_id).
func DecodeClientMessage(data []byte) (protocol.Message, error) {
	var m protocol.Message
	if err := json.Unmarshal(data, &m); err != nil {
		// Try to keep the operation_id of an otherwise bad frame.
		var partial struct {
			OperationID string `json:"operation_id"`
		}
		if json.Unmarshal(data, &partial) == nil && len(partial.OperationID) <= maxOperationID {
			m = protocol.Message{OperationID: partial.OperationID}
		} else {
			m = protocol.Message{}
		}
		return m, protocol.Errorf(protocol.CodeBadRequest, "malformed JSON message")
	}
	if len(m.OperationID) > maxOperationID {
		m.OperationID = ""
		return m, protocol.Errorf(protocol.CodeBadRequest, "operation_id longer than %d bytes", maxOperationID)
	}
	switch m.Type {
	case protocol.TypeAuth, protocol.TypeRefresh:
		if m.Token == "" {
			return m, protocol.Errorf(protocol.CodeBadRequest, "%s: missing field token", m.Type)
		}
		if len(m.Token) > protocol.MaxTokenBytes {
			return m, protocol.Errorf(protocol.CodeBadRequest, "%s: token too large", m.Type)
		}
	case protocol.TypeSubscribe:
		if m.ClientID == "" {
			return m, protocol.Errorf(protocol.CodeBadRequest, "Subscribe: missing field client_id")
		}
		if !clientIDPattern.MatchString(m.ClientID) {
			return m, protocol.Errorf(protocol.CodeBadRequest, "Subscribe: client_id must match %s", protocol.ClientIDPatternString)
		}
		if m.Since != nil && *m.Since < 0 {
			return m, protocol.Errorf(protocol.CodeBadRequest, "Subscribe: since must not be negative")
		}
	case protocol.TypeFileOperation:
		if m.Operation == nil {
			return m, protocol.Errorf(protocol.CodeBadRequest, "FileOperation: missing field operation")
		}
		kind := m.Operation.Kind()
		if kind == "" {
			return m, protocol.Errorf(protocol.CodeBadRequest, "FileOperation: operation must hold exactly one of Create, Update, Delete, Move")
		}
		if m.Operation.Meta().Path == "" {
			return m, protocol.Errorf(protocol.CodeBadRequest, "FileOperation: missing field metadata.path")
		}
		if kind == protocol.OpMove && m.Operation.Move.From == "" {
			return m, protocol.Errorf(protocol.CodeBadRequest, "FileOperation: Move: missing field from")
		}
	case protocol.TypePing:
	case "":
		return m, protocol.Errorf(protocol.CodeBadRequest, "missing field type")
	default:
		return m, protocol.Errorf(protocol.CodeBadRequest, "unknown message type")
	}
	return m, nil
}

// Server → client frames. They are dedicated structs rather than protocol.Message so
// that seq is always present where SPEC requires it (Ack of Subscribe, ResyncRequired)
// even when it is 0.

type ackFrame struct {
	Type        string `json:"type"`
	OperationID string `json:"operation_id"`
	Seq         *int64 `json:"seq,omitempty"`
	Epoch       string `json:"epoch,omitempty"`
}

type resyncFrame struct {
	Type  string `json:"type"`
	Seq   int64  `json:"seq"`
	Epoch string `json:"epoch"`
}

type errorFrame struct {
	Type        string        `json:"type"`
	Code        protocol.Code `json:"code"`
	Message     string        `json:"message"`
	OperationID string        `json:"operation_id,omitempty"`
}

var pongFrame = []byte(`{"type":"Pong"}`)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only fixed struct types reach here; they always marshal.
		panic("hub: marshal server frame: " + err.Error())
	}
	return b
}

func encodeAck(opID string, seq *int64, epoch string) []byte {
	return mustJSON(ackFrame{Type: protocol.TypeAck, OperationID: opID, Seq: seq, Epoch: epoch})
}

func encodeResync(seq int64, epoch string) []byte {
	return mustJSON(resyncFrame{Type: protocol.TypeResyncRequired, Seq: seq, Epoch: epoch})
}

func encodeError(code protocol.Code, msg, opID string) []byte {
	return mustJSON(errorFrame{Type: protocol.TypeError, Code: code, Message: msg, OperationID: opID})
}
