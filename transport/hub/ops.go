package hub

import (
	"context"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// fileOperation carries out a client FileOperation (SPEC §4, role write): Delete,
// Move and directory Create change the tenant's space (a non-empty metadata.hash is a
// precondition); file Create/Update are only verified against the stored content
// (content_missing otherwise). The answer is an Ack with the operation_id and the seq
// made, or an Error with the operation_id. The event's source is the connection's
// client_id and the token's subject, whatever the frame says.
func (c *conn) fileOperation(m protocol.Message) {
	p := c.principal.Load()
	if !p.Can(auth.RoleWrite) {
		c.sendError(protocol.Errorf(protocol.CodeForbidden, "role %q may not change files", p.Role), m.OperationID)
		return
	}
	sp, err := c.openSpace()
	if err != nil {
		c.sendError(err, m.OperationID)
		return
	}
	c.infoMu.Lock()
	src := tenants.Source{ClientID: c.clientID, Subject: p.Subject}
	c.infoMu.Unlock()
	if err := checkOpScope(c.scope, *m.Operation); err != nil {
		c.sendError(err, m.OperationID)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	seq, err := applyOperation(ctx, sp, *m.Operation, src)
	if err != nil {
		c.sendError(err, m.OperationID)
		return
	}
	var seqp *int64
	if seq > 0 {
		seqp = &seq
	}
	c.send(encodeAck(m.OperationID, seqp, ""))
}

// applyOperation runs one decoded operation against sp and returns the seq it made (0
// when it made none).
func applyOperation(ctx context.Context, sp Space, op protocol.Operation, src tenants.Source) (int64, error) {
	switch op.Kind() {
	case protocol.OpDelete:
		md := op.Delete.Metadata
		return sp.Delete(ctx, md.Path, tenants.DeleteOptions{
			Recursive: md.IsDirectory,
			IfMatch:   md.Hash,
			Source:    src,
		})
	case protocol.OpMove:
		meta, err := sp.Move(ctx, op.Move.From, op.Move.Metadata.Path, op.Move.Metadata.Hash, src)
		if err != nil {
			return 0, err
		}
		return meta.Seq, nil
	case protocol.OpCreate:
		md := op.Create.Metadata
		if md.IsDirectory {
			meta, created, err := sp.Mkdir(ctx, md.Path, src)
			if err != nil {
				return 0, err
			}
			if !created {
				return 0, nil
			}
			return meta.Seq, nil
		}
		return 0, verifyContent(ctx, sp, md)
	case protocol.OpUpdate:
		return 0, verifyContent(ctx, sp, op.Update.Metadata)
	}
	return 0, protocol.Errorf(protocol.CodeBadRequest, "unknown operation")
}

// verifyContent accepts a file Create/Update only when the tenant's file at that path
// already has the announced hash (content travels over HTTP, never over /ws), once its
// directory entries are durable: the upload that stored it may have failed its
// directory flushes after its commit (tenants.Space.FlushPath).
func verifyContent(ctx context.Context, sp Space, md protocol.Metadata) error {
	missing := protocol.Errorf(protocol.CodeContentMissing, "upload the content over HTTP first")
	if md.Hash == "" {
		return missing
	}
	meta, err := sp.Stat(ctx, md.Path)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return missing
		}
		return err
	}
	if meta.IsDirectory || meta.Hash != md.Hash {
		return missing
	}
	return sp.FlushPath(ctx, md.Path)
}
