package fsys

// DoneEvents are what a DoneWatcher reports: absolute paths of files closed after
// writing (see NewDoneWatcher). They are hints: one can be missed (a full queue drops it), and
// a path can be reported although it changed again since.
type DoneEvents <-chan string
