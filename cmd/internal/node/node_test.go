package node

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// TestClusterRefused: in cluster mode Open never falls back to the data dir's store: a node that cannot open its cluster parts fails.
func TestClusterRefused(t *testing.T) {
	data := t.TempDir()
	cfg := config.Default()
	cfg.Cluster = config.Cluster{Postgres: "postgres://127.0.0.1:1/x?connect_timeout=2", Blobs: "dir:/nowhere"}
	cfg.Auth.KEKFile = filepath.Join(data, "kek")
	n, err := Open(context.Background(), data, FromConfig(cfg))
	if err == nil {
		n.Close()
		t.Fatal("cluster mode opened without its parts")
	}
	if !strings.Contains(err.Error(), "cluster mode") {
		t.Fatalf("error %q does not name cluster mode", err)
	}
	if _, err := os.Stat(filepath.Join(data, DBFile)); !os.IsNotExist(err) {
		t.Fatalf("a single-node store was created (%v)", err)
	}
}
