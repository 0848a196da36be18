package protocol

// Message is any WebSocket frame of SPEC §4, client → server or server → client. Only
// the fields of its Type are meaningful; the server checks those of a client → server
// frame in transport/hub's DecodeClientMessage.
type Message struct {
	Type string `json:"type"`

	// Auth, Refresh.
	Token string `json:"token,omitempty"`

	// Subscribe.
	ClientID string `json:"client_id,omitempty"`
	Since    *int64 `json:"since,omitempty"`
	Epoch    string `json:"epoch,omitempty"`
	Batch    bool   `json:"batch,omitempty"`

	// FileOperation (both ways), Ack, Error.
	Seq           int64      `json:"seq,omitempty"`
	Operation     *Operation `json:"operation,omitempty"`
	SourceClient  string     `json:"source_client,omitempty"`
	SourceSubject string     `json:"source_subject,omitempty"`
	OperationID   string     `json:"operation_id,omitempty"`

	// Error.
	Code    Code   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}
