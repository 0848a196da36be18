package node

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config"
)

// TestRecordedSettings: what one Open records, an Open with UseRecorded adopts (the
// key dir inside the data dir recorded as "" and found again); the leeway is always
// TokenLeeway.
func TestRecordedSettings(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = data
	cfg.Auth.Issuer = "me"
	cfg.Auth.MaxTTL = config.Duration(48 * time.Hour)
	n, err := Open(ctx, data, FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RecordSettings(ctx); err != nil {
		t.Fatal(err)
	}
	want := n.AuthConfig()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if want.Leeway != TokenLeeway || want.KeyDir != filepath.Join(data, "keys") {
		t.Fatalf("auth config %+v", want)
	}

	m, err := Open(ctx, data, Options{UseRecorded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.AuthConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("adopted %+v, recorded %+v", got, want)
	}

	k, err := Open(ctx, data, Options{UseRecorded: true, KeepKeyDir: true, Auth: Auth{KeyDir: filepath.Join(t.TempDir(), "k")}})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if got := k.AuthConfig(); got.Issuer != "me" || got.KeyDir == want.KeyDir {
		t.Fatalf("KeepKeyDir: %+v", got)
	}
}
