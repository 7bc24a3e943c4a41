package main

import (
	"context"
	"os"

	"github.com/gauntlet-ml/gauntlet/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Stdio()))
}
