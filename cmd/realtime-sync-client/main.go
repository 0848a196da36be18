// Command realtime-sync-client keeps a local folder in sync with a syncd server
// (SPEC §1). The logic lives in package clientapp.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncspace/syncspace/cmd/internal/buildinfo"
	"github.com/syncspace/syncspace/cmd/realtime-sync-client/clientapp"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		buildinfo.Print(os.Stdout, "realtime-sync-client")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := clientapp.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
