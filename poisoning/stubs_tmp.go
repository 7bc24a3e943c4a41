package poisoning

import (
	"context"

	"github.com/gauntlet-ml/gauntlet/suite"
)

func decodeModel(m *ModelConfig) error                    { return nil }
func decodeSusceptibility(s *SusceptibilityConfig) error  { return nil }
func modelKeys(m *ModelConfig, classes int) []string      { return nil }
func susceptibilityKeys(s *SusceptibilityConfig) []string { return nil }
func runModel(ctx context.Context, t *suite.Target, cfg *ModelConfig, r *suite.Result) error {
	return nil
}
func runSusceptibility(ctx context.Context, t *suite.Target, cfg *SusceptibilityConfig, r *suite.Result) error {
	return nil
}
