package engine

import "testing"

// stateAlias takes the short-name forms of .syncspace, its temp files and .syncignore
// (plain and hashed, any case, with an extension) and nothing else.
func TestStateAlias(t *testing.T) {
	for p, want := range map[string]bool{
		"SYNCSP~1": true, "a/syncsp~2/b.txt": true, "SYNCIG~1": true, "SY3F2A~1": true,
		"Sync~12.txt": true, "sy~1": true, "SYNCSP~1.TMP": true,
		"SYNCSP~": false, "SYNCSPA~1": false, "SYNCSP~1.TEXT": false, "SYNCSP~1.a.b": false,
		"XYNCSP~1": false, "S~1": false, "SYNC~1X": false, ".syncignore": false, "sync": false,
		"SY-3F2~1": false, "synchronise~1": false, "docs/SY~.txt": false, "résumé~1": false,
	} {
		if got := stateAlias(p); got != want {
			t.Errorf("stateAlias(%q) = %v, want %v", p, got, want)
		}
	}
}
