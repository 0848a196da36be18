package index

// ExpectTx is a Tx of an index that other processes write too (cluster mode:
// tenants/pgindex), whose callers check a change against reads made before the
// transaction locked the tenant's head: another node may have committed in between.
// Each expectation is checked inside the transaction, in order with the statements
// queued before and after it (so it sees the transaction's own earlier changes); one
// that does not hold fails the transaction with a protocol.CodeUnavailable error (503, retried: the
// retry is checked against what the other process committed) and
// nothing of it commits. An index that only this process writes does not implement
// it: the caller's commit section already keeps its reads current.
type ExpectTx interface {
	// ExpectEntry expects the entry of p's fold key to be e as the caller read it:
	// none when e is nil, one with e.Seq when e.Seq > 0, any when e.Seq is 0 (an entry
	// this transaction wrote); and p's parent to be the root or a directory.
	ExpectEntry(p string, e *Entry) error
	// ExpectNoFile expects p's fold key to have no entry or a directory's (a directory
	// about to be made, which another process may have made meanwhile: writing it
	// again is harmless), and p's parent to be the root or a directory.
	ExpectNoFile(p string) error
	// ExpectTree expects exactly n entries strictly under dir, the greatest seq among
	// them maxSeq (0 when n is 0).
	ExpectTree(dir string, n, maxSeq int64) error
}
