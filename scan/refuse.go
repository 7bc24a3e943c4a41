package scan

import (
	"fmt"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// maxQuoted is how many of the scan's errors a refusal quotes.
const maxQuoted = 5

// ruleOpsetRange is the rule of an ai.onnx opset outside the range the
// scan was given (docs/scan.md).
const ruleOpsetRange = "onnx/opset-range"

// Refusal is the error with which `gauntlet run` refuses a model whose
// scan res found errors, before ONNX Runtime sees the file: errs.Invalid
// (exit 2), naming the model, counting the errors and quoting the first
// five with their rules (each names its node or tensor); nil when res
// found none or is nil. The opset range is the one error left to ONNX
// Runtime: the scan's range is the bundled runtime's (DefaultMaxOpset),
// and a newer build given with runtime.ort_library may implement newer
// opsets; a runtime that does not refuses the model when it opens it.
func Refusal(model string, res *reports.ScanResult) error {
	if res == nil {
		return nil
	}
	var msgs []string
	n := 0
	for _, f := range res.Findings {
		if f.Severity != reports.SeverityError || f.RuleID == ruleOpsetRange {
			continue
		}
		if n++; n <= maxQuoted {
			msgs = append(msgs, fmt.Sprintf("[%s] %s", f.RuleID, f.Message))
		}
	}
	if n == 0 {
		return nil
	}
	if n > maxQuoted {
		msgs = append(msgs, fmt.Sprintf("and %d more", n-maxQuoted))
	}
	return errs.Invalidf("model %s: refused: gauntlet scan finds %d error(s): %s (gauntlet scan %s lists them all)", model, n, strings.Join(msgs, "; "), model)
}
