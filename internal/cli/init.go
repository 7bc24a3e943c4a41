package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/config"
)

func newInitCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Print a commented example configuration",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(s.Out, config.Example)
			return err
		},
	}
}
