package index

// UndoRow is a path's state before a change made after a snapshot: the entry as it
// was (Present) or its absence. The index adapters read them to answer a listing
// from a snapshot while writes go on.
type UndoRow struct {
	Present bool
	Entry   Entry
}

// MergeUndo merges the current rows and the undo rows of a page up to next (or all when
// done), by path; an undo row wins over the current row of its path.
func MergeUndo(cur []*Entry, undo []UndoRow, next string, done bool) []*Entry {
	page := make([]*Entry, 0, len(cur))
	i, j := 0, 0
	for i < len(cur) || j < len(undo) {
		var p string
		switch {
		case j == len(undo) || (i < len(cur) && cur[i].Path < undo[j].Entry.Path):
			p = cur[i].Path
		default:
			p = undo[j].Entry.Path
		}
		if !done && p > next {
			break
		}
		switch {
		case j < len(undo) && undo[j].Entry.Path == p:
			if undo[j].Present {
				e := undo[j].Entry
				page = append(page, &e)
			}
			j++
			if i < len(cur) && cur[i].Path == p {
				i++
			}
		default:
			page = append(page, cur[i])
			i++
		}
	}
	return page
}
