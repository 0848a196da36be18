package clusterimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/pgstore"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// TestRerunCarriesRevocations: an import run again (the documented way to finish one
// that stopped, or to bring over what changed on the single node since) carries the
// revocations, key retirements and device revocations made since the first run to
// records the first run copied. Before session 25 a record already in the cluster was
// skipped as it was: a token revoked on the single node after the first run (or
// whose revocation a stopped run had not written yet, after its record) stayed valid
// in the cluster, and so did a retired signing key and a revoked device.
func TestRerunCarriesRevocations(t *testing.T) {
	ctx := context.Background()
	src := syncdtest.Start(t, syncdtest.Options{})
	src.Tenant(t, "alpha", tenants.Options{})
	src.Token(t, "alpha", "ann", "write")
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	syncctl := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := ctl.Run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("syncctl %v: %d %s", args, code, errb.String())
		}
		return out.String()
	}
	syncctl("--data", src.DataDir, "token", "issue", "--tenant", "alpha", "--subject", "ann", "--role", "write",
		"--device", "laptop", "--out", filepath.Join(dir, "laptop.json"))
	url := pgtest.Postgres(t)
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cluster.json")
	b, _ := json.Marshal(map[string]any{"data_dir": filepath.Join(dir, "unused"), "auth": map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": url, "blobs": "dir:" + filepath.Join(dir, "blobs")}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	syncctl("cluster", "import", "--data", src.DataDir, "--config", cfg)

	// On the single node, after the first run: ann's tokens revoked, the device
	// revoked, the first key retired (after a rotation).
	before := sourceAuth(t, src.DataDir)
	syncctl("--data", src.DataDir, "token", "revoke", "--tenant", "alpha", "--subject", "ann")
	syncctl("--data", src.DataDir, "device", "revoke", before.devices[0].ID)
	syncctl("--data", src.DataDir, "key", "rotate")
	syncctl("--data", src.DataDir, "key", "retire", before.keys[0].KID)
	syncctl("cluster", "import", "--data", src.DataDir, "--config", cfg)

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dst, err := pgstore.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range before.tokens {
		if r, err := dst.Token(ctx, tok.JTI); err != nil || !r.Revoked {
			t.Errorf("token %s (%s) in the cluster: revoked %v, %v; revoked on the single node", tok.JTI, tok.Device, r.Revoked, err)
		}
	}
	if d, err := dst.Device(ctx, before.devices[0].ID); err != nil || d.RevokedAt == nil {
		t.Errorf("device in the cluster: %+v, %v; revoked on the single node", d, err)
	}
	keys, err := dst.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.KID == before.keys[0].KID && k.RetiredAt == nil {
			t.Errorf("key %s live in the cluster, retired on the single node", k.KID)
		}
	}
}

type authRecords struct {
	tokens  []auth.TokenRecord
	devices []auth.DeviceRecord
	keys    []auth.KeyRecord
}

// sourceAuth reads the single node's token, device and key records.
func sourceAuth(t *testing.T, dataDir string) authRecords {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, node.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var r authRecords
	if r.tokens, err = st.Tokens(ctx, auth.TokenQuery{Tenant: "alpha", Subject: "ann"}); err != nil {
		t.Fatal(err)
	}
	if r.devices, err = st.Devices(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if r.keys, err = st.Keys(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.tokens) != 1 || len(r.devices) != 1 || len(r.keys) != 1 {
		t.Fatalf("source: %d tokens, %d devices, %d keys; want 1, 1, 1", len(r.tokens), len(r.devices), len(r.keys))
	}
	return r
}
