// Command syncd is syncspace's server. See package daemon for the program and
// README.md for how to run it.
package main

import (
	"context"
	"os"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

func main() {
	os.Exit(daemon.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
