package tenants

import "github.com/syncspace/syncspace/sync/pathrule"

// commitEach commits the applied members of b one by one, each in a transaction of
// its own, after b's transaction failed on an expectation (index.ErrStale: cluster
// mode, another node changed what a member's check relied on between the check and
// the commit). Only the members whose own expectations fail then fail (503, retried);
// the others commit, in batch order, each publishing its own event. Before session
// 26 every member of the batch failed. A member that rewrites a path an earlier
// failed member wrote in this batch fails with it: its check read that member's
// content, not the index's. The failed members' disk changes are undone newest
// first, as undoBatch does. The directory fsyncs of b are done (serr is their
// result), so the single commits wait for none.
func (b *batch) commitEach(serr error) {
	s := b.s.cm
	failed := map[string]error{} // fold key of a failed member's path → its error
	var undo []*applied
	for _, a := range b.done {
		k := pathrule.FoldKey(a.r.p)
		err, ok := failed[k]
		if !ok {
			one := &batch{s: b.s, blobs: b.blobs, done: []*applied{a}}
			var w *wtx
			if w, err = s.commitApplied(one, nil); err == nil {
				one.committed(w, serr)
				continue
			}
			failed[k] = err
		}
		a.r.err = err
		undo = append(undo, a)
	}
	for i := len(undo) - 1; i >= 0; i-- {
		s.undoBatch(&batch{s: b.s, blobs: b.blobs, done: undo[i : i+1]}, undo[i].r.err)
	}
}
