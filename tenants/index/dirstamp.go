package index

import "context"

// DirStamp is the stamp of one directory of a tenant ("" = the root).
type DirStamp struct {
	Dir   string
	Stamp []byte
}

// DirStamps keeps, per directory of a tenant, the stamp the start-up check of the
// disk left when it last found that directory's children equal to their entries
// (tenants/dirstamp.go). A stamp is opaque bytes to the index. Stamps are a cache
// beside the index: a lost, stale or foreign one costs a full comparison of the
// directory, never a wrong answer. Tx.RemoveTree and Tx.MoveTree of a directory drop
// the stamps of the directories they remove or move (housekeeping only), and a
// tenant's deletion takes its stamps with it.
type DirStamps interface {
	// DirStamp returns the stamp stored for dir; nil if none.
	DirStamp(ctx context.Context, id, dir string) ([]byte, error)
	// PutDirStamps stores stamps (one per directory), replacing any, in one write.
	PutDirStamps(ctx context.Context, id string, stamps []DirStamp) error
}
