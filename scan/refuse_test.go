package scan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestRefusalQuotesFiveAndCountsTheRest: seven findings of severity
// error (one of them the opset range, left to ONNX Runtime), a warning and
// a note: the refusal is exit 2, counts the 6 errors it refuses for,
// quotes the first 5 with their rules and says "and 1 more"; warnings,
// notes and the opset range alone refuse nothing.
func TestRefusalQuotesFiveAndCountsTheRest(t *testing.T) {
	res := &reports.ScanResult{}
	for i := range 6 {
		res.Findings = append(res.Findings, reports.Finding{RuleID: "onnx/dangling-name", Severity: reports.SeverityError,
			Message: fmt.Sprintf("node n%d reads \"ghost%d\", which nothing defines", i, i)})
	}
	res.Findings = append(res.Findings,
		reports.Finding{RuleID: ruleOpsetRange, Severity: reports.SeverityError, Message: "ai.onnx opset 24 is outside the supported range 7..23"},
		reports.Finding{RuleID: "onnx/duplicate-name", Severity: reports.SeverityWarning, Message: "node name \"a\" is used by more than one node"},
		reports.Finding{RuleID: "onnx/contrib-domain", Severity: reports.SeverityNote, Message: "node b uses operator com.microsoft.Gelu"})
	err := Refusal("m.onnx", res)
	if errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("err %v, want exit 2", err)
	}
	msg := err.Error()
	for _, want := range []string{"model m.onnx: refused: gauntlet scan finds 6 error(s): [onnx/dangling-name] node n0 reads \"ghost0\"",
		"node n4 reads \"ghost4\"", "; and 1 more (gauntlet scan m.onnx lists them all)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	for _, not := range []string{"ghost5", "opset 24", "used by more than one", "Gelu"} {
		if strings.Contains(msg, not) {
			t.Errorf("%q quotes %q", msg, not)
		}
	}
	res.Findings = res.Findings[6:]
	if err := Refusal("m.onnx", res); err != nil {
		t.Errorf("opset range, warning and note: %v, want no refusal", err)
	}
	if err := Refusal("m.onnx", nil); err != nil {
		t.Errorf("no scan result: %v", err)
	}
}
