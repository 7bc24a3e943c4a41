package main

import (
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestDifferentialVariantSignatureExitTwo: through the binary, a
// differential variant whose inputs and outputs differ from the model's
// (the digits CNN beside the Adult MLP) is exit 2, and the message names
// both files and both signatures (issue 17, "Bad input").
func TestDifferentialVariantSignatureExitTwo(t *testing.T) {
	adult, digits := testutil.Example(t, "adult/adult_mlp.onnx"), testutil.Example(t, "digits_cnn.onnx")
	r := run(t, "version: 1\nmodel: "+adult+"\nseed: 1\n"+
		"data: {csv: "+testutil.Example(t, "adult/adult_eval.csv")+", label: label, keep: [sex, race], range: [0, 1]}\n"+
		"suites:\n  differential:\n    variants: [{name: other, model: "+digits+"}]\n")
	if r.code != 2 {
		t.Fatalf("exit %d; want 2\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"variants[0] (other)", digits, adult, "input float32 [-1 1 8 8]", "input float32 [-1 47]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, r.stderr)
		}
	}
}
