package fsys

// DoneEvents are what a DoneWatcher reports: absolute paths whose change is complete
// (see NewDoneWatcher). They are hints: one can be missed (a full queue drops it), and
// a path can be reported although it changed again since.
type DoneEvents <-chan string
