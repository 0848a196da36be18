package ctl

import (
	"context"
	"fmt"
	"os"

	"github.com/syncspace/syncspace/cmd/internal/clusterimport"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/config"
)

func validateClusterImport(p *parsed) error {
	if p.get("data") == "" || p.get("config") == "" {
		return usagef("cluster import needs --data DIR (the single-node data dir) and --config FILE (a config with a cluster section)")
	}
	for _, f := range []string{"server", "postgres", "kek-file", "key-dir"} {
		if p.has(f) {
			return usagef("--%s cannot be used with cluster import", f)
		}
	}
	return nil
}

// clusterImport moves the data dir --data into the cluster of --config.
func clusterImport(ctx context.Context, r *runCtx) error {
	cfg, err := config.Load(r.p.get("config"), os.Getenv)
	if err != nil {
		return err
	}
	if !cfg.Cluster.Enabled() || cfg.Cluster.Blobs == "" {
		return fmt.Errorf("%s has no cluster section with cluster.blobs", r.p.get("config"))
	}
	data := r.p.get("data")
	if _, err := os.Stat(data + "/" + node.DBFile); err != nil {
		return fmt.Errorf("%s is no data dir: %w", data, err)
	}
	tmp, err := os.MkdirTemp("", "syncctl-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dst, err := node.OpenClusterTarget(ctx, node.Cluster{Cluster: cfg.Cluster, KEKFile: cfg.Auth.KEKFile}, tmp)
	if err != nil {
		return err
	}
	defer dst.Pool.Close()
	rep, err := clusterimport.Run(ctx, data, dst, r.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "imported %d tenants (%d already there), %d files, %d changes, %d versions, %d keys, %d tokens, %d devices, %d share links, %d audit entries\n",
		rep.Tenants, rep.Skipped, rep.Files, rep.Changes, rep.Versions, rep.Keys, rep.Tokens, rep.Devices, rep.Shares, rep.Audit)
	return nil
}

func validateClusterNewEpoch(p *parsed) error {
	if (p.get("config") == "") == (p.get("postgres") == "") {
		return usagef("cluster new-epoch needs --config FILE (a config with a cluster section) or --postgres URL")
	}
	for _, f := range []string{"server", "data", "key-dir"} {
		if p.has(f) {
			return usagef("--%s cannot be used with cluster new-epoch", f)
		}
	}
	return nil
}

// clusterNewEpoch starts a new epoch for every tenant of the cluster (after a restore
// of its database from a backup): clients resynchronise instead of trusting seqs
// that will be handed out again.
func clusterNewEpoch(ctx context.Context, r *runCtx) error {
	url := r.p.get("postgres")
	if url == "" {
		cfg, err := config.Load(r.p.get("config"), os.Getenv)
		if err != nil {
			return err
		}
		if !cfg.Cluster.Enabled() {
			return fmt.Errorf("%s has no cluster section", r.p.get("config"))
		}
		url = cfg.Cluster.Postgres
	}
	n, err := node.NewEpochs(ctx, url)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "started a new epoch for %d tenants\n", n)
	return nil
}
