package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/transport/adminclient"
)

// Device credentials (`token issue --device NAME --out FILE`, `device list|revoke`).

func init() {
	knownFlags["device"] = flagSpec{value: true}
	knownFlags["cert"] = flagSpec{value: true}
}

// deviceBackend is what the device commands need of a backend; local and remote both
// implement it.
type deviceBackend interface {
	EnrollDevice(ctx context.Context, tenant, subject, role, name, certPEM string) (adminclient.Enrolled, error)
	ListDevices(ctx context.Context, tenant string) ([]auth.DeviceRecord, error)
	RevokeDevice(ctx context.Context, id string) error
}

var _ deviceBackend = (*remote)(nil)

// DeviceCredential is the device credential file `token issue --device` writes (0600)
// and realtime-sync-client --token-file reads and rewrites.
type DeviceCredential struct {
	RefreshToken string `json:"refresh_token"`
	Server       string `json:"server"`
	Tenant       string `json:"tenant"`
	Subject      string `json:"subject"`
	Device       string `json:"device"`
	DeviceID     string `json:"device_id"`
	Role         string `json:"role"`
	CertBound    string `json:"x5t#S256,omitempty"`
}

func devices(r *runCtx) (deviceBackend, error) {
	b, ok := r.b.(deviceBackend)
	if !ok {
		return nil, errors.New("this backend does not manage devices")
	}
	return b, nil
}

// deviceIssue is `token issue --device NAME --out FILE [--cert FILE]`.
func deviceIssue(ctx context.Context, r *runCtx) error {
	p := r.p
	switch {
	case p.has("ops") || p.has("ttl") || p.has("link"):
		return usagef("token issue --device takes no --ops, --ttl or --link (auth.device_ttl applies)")
	case !p.has("out"):
		return usagef("token issue --device needs --out FILE (the credential is a file the client rewrites)")
	case !auth.ValidDeviceName(p.get("device")):
		return usagef("--device: want a name of 1 to %d printable bytes", auth.MaxDeviceName)
	}
	b, err := devices(r)
	if err != nil {
		return err
	}
	var certPEM []byte
	if p.has("cert") {
		if certPEM, err = os.ReadFile(p.get("cert")); err != nil {
			return err
		}
		if _, err := auth.ThumbprintPEM(certPEM); err != nil {
			return fmt.Errorf("--cert %s: %w", p.get("cert"), err)
		}
	}
	server := p.get("public-url")
	if server == "" {
		server, _ = r.b.PublicURL()
	}
	if u, err := url.Parse(server); err != nil || u.Host == "" {
		return usagef("--public-url: want the URL clients reach the server at")
	}
	out := p.get("out")
	f, err := fsys.CreatePrivate(out) // private from its creation on, Windows too
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; refusing to overwrite it", out)
	}
	if err != nil {
		return err
	}
	res, err := b.EnrollDevice(ctx, p.get("tenant"), p.get("subject"), p.get("role"), p.get("device"), string(certPEM))
	d := res.Device
	if err == nil {
		if !p.has("public-url") && res.PublicURL != "" {
			server = res.PublicURL // the server's PUBLIC_URL, not the admin address (remote mode)
		}
		cred := DeviceCredential{RefreshToken: res.RefreshToken, Server: strings.TrimRight(server, "/"), Tenant: d.Tenant, Subject: d.Subject,
			Device: d.Name, DeviceID: d.ID, Role: d.Role, CertBound: d.CertThumbprint}
		data, _ := json.MarshalIndent(cred, "", "  ")
		if _, err = f.Write(append(data, '\n')); err == nil {
			err = f.Sync()
		}
	}
	err = closeOut(f, err)
	if err != nil {
		os.Remove(out)
		if d.ID != "" {
			_ = b.RevokeDevice(context.WithoutCancel(ctx), d.ID) // its secret was never saved
		}
		return err
	}
	fmt.Fprintf(r.stderr, "device credential written to %s (device %s, id %s, valid %s from its last use)\n", out, d.Name, d.ID, "auth.device_ttl")
	return nil
}

func deviceList(ctx context.Context, r *runCtx) error {
	b, err := devices(r)
	if err != nil {
		return err
	}
	devs, err := b.ListDevices(ctx, r.p.get("tenant"))
	if err != nil {
		return err
	}
	if r.json() {
		return r.printJSON(devs)
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEVICE\tTENANT\tSUBJECT\tROLE\tLAST USE\tADDRESS\tCERT\tEXPIRES\tREVOKED")
	for _, d := range devs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Tenant, d.Subject, d.Role,
			timeOrDash(d.LastUsedAt), dash(d.LastAddress), dash(d.CertThumbprint), d.ExpiresAt.UTC().Format(time.RFC3339), timeOrDash(d.RevokedAt))
	}
	return tw.Flush()
}

func deviceRevoke(ctx context.Context, r *runCtx) error {
	b, err := devices(r)
	if err != nil {
		return err
	}
	id := r.arg(2, 0)
	if err := b.RevokeDevice(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "device %s revoked\n", id)
	return nil
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
