// Command syncctl is syncspace's ops CLI: tenants, tokens, signing keys and the audit
// log, on a data dir directly or through the admin API. See ctl.Usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncspace/syncspace/cmd/internal/buildinfo"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		buildinfo.Print(os.Stdout, "syncctl")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
