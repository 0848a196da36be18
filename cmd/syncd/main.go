// Command syncd is syncspace's server. See package daemon for the program and
// README.md for how to run it.
package main

import (
	"context"
	"os"

	"github.com/syncspace/syncspace/cmd/internal/buildinfo"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

func main() {
	if buildinfo.IsVersionFlag(os.Args[1:]) {
		buildinfo.Print(os.Stdout, "syncd")
		return
	}
	os.Exit(daemon.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
