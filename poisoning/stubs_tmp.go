package poisoning

import (
	"context"

	"github.com/gauntlet-ml/gauntlet/suite"
)

func decodeSusceptibility(s *SusceptibilityConfig) error  { return nil }
func susceptibilityKeys(s *SusceptibilityConfig) []string { return nil }
func runSusceptibility(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, r *suite.Result) error {
	return nil
}
