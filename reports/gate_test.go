package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestParseGateValid(t *testing.T) {
	// Expected values are read off the input by hand: the metric is the text
	// before the operator, the threshold the decimal after it.
	tests := []struct {
		in        string
		metric    string
		op        string
		threshold float64
		suite     string
		key       string
	}{
		{"accuracy.top1 >= 0.9", "accuracy.top1", ">=", 0.9, "accuracy", "top1"},
		{"fairness.sex&race.demographic_parity_ratio >= 0.8", "fairness.sex&race.demographic_parity_ratio", ">=", 0.8, "fairness", "sex&race.demographic_parity_ratio"},
		{"accuracy.top1>=0.9", "accuracy.top1", ">=", 0.9, "accuracy", "top1"},
		{"  accuracy.top1\t<  1 ", "accuracy.top1", "<", 1, "accuracy", "top1"},
		{"evasion.pgd.linf.eps=0.03.robust_accuracy >= 0.5", "evasion.pgd.linf.eps=0.03.robust_accuracy", ">=", 0.5, "evasion", "pgd.linf.eps=0.03.robust_accuracy"},
		{"evasion.pgd.linf.eps=0.03.robust_accuracy>=0.5", "evasion.pgd.linf.eps=0.03.robust_accuracy", ">=", 0.5, "evasion", "pgd.linf.eps=0.03.robust_accuracy"},
		{"membership.loss.tpr@fpr=0.001 <= 0.05", "membership.loss.tpr@fpr=0.001", "<=", 0.05, "membership", "loss.tpr@fpr=0.001"},
		{"evasion.fgsm.eps=1e-3.robust_accuracy > 0.7", "evasion.fgsm.eps=1e-3.robust_accuracy", ">", 0.7, "evasion", "fgsm.eps=1e-3.robust_accuracy"},
		{"fairness.sex.demographic_parity_difference <= 1e-3", "fairness.sex.demographic_parity_difference", "<=", 1e-3, "fairness", "sex.demographic_parity_difference"},
		{"fairness.dp > -0.25", "fairness.dp", ">", -0.25, "fairness", "dp"},
		{"fairness.dp>-1", "fairness.dp", ">", -1, "fairness", "dp"},
		{"poisoning.flips == 0", "poisoning.flips", "==", 0, "poisoning", "flips"},
		{"poisoning.flips==0", "poisoning.flips", "==", 0, "poisoning", "flips"},
		{"poisoning.flips != 3", "poisoning.flips", "!=", 3, "poisoning", "flips"},
		{"poisoning.flips!=3", "poisoning.flips", "!=", 3, "poisoning", "flips"},
		{"a-b.c_d.E9 < .5", "a-b.c_d.E9", "<", 0.5, "a-b", "c_d.E9"},
		{"a.b <= 2.5E+2", "a.b", "<=", 250, "a", "b"},
		{"a.b < 0x1p-4", "a.b", "<", 0.0625, "a", "b"},
		{"a.x= > 1", "a.x=", ">", 1, "a", "x="},
	}
	for _, tt := range tests {
		g, err := ParseGate(tt.in)
		if err != nil {
			t.Errorf("ParseGate(%q): %v", tt.in, err)
			continue
		}
		if g.Metric != tt.metric || g.Op != tt.op || g.Threshold != tt.threshold {
			t.Errorf("ParseGate(%q) = {%q %q %v}, want {%q %q %v}", tt.in, g.Metric, g.Op, g.Threshold, tt.metric, tt.op, tt.threshold)
		}
		if g.Expr != strings.TrimSpace(tt.in) {
			t.Errorf("ParseGate(%q).Expr = %q, want the trimmed input", tt.in, g.Expr)
		}
		if g.Suite() != tt.suite || g.Key() != tt.key {
			t.Errorf("ParseGate(%q): Suite, Key = %q, %q, want %q, %q", tt.in, g.Suite(), g.Key(), tt.suite, tt.key)
		}
	}
}

func TestParseGateInvalid(t *testing.T) {
	// Columns are counted by hand, 1-based, in characters.
	tests := []struct{ in, want string }{
		{"acc >= x", `gate "acc >= x": column 8: expected a number, got "x"`},
		{"acc >= 1", `gate "acc >= 1": column 1: expected a metric "<suite>.<key>", got "acc"`},
		{"", `gate "": column 1: expected a metric name, got end of input`},
		{"   ", `gate "   ": column 4: expected a metric name, got end of input`},
		{">= 1", `gate ">= 1": column 1: expected a metric name, got ">="`},
		{"$ > 1", `gate "$ > 1": column 1: expected a metric name, got "$"`},
		{"a.b$ > 1", `gate "a.b$ > 1": column 4: expected a letter, digit, _, -, @, =, &, . or an operator, got "$"`},
		{"a.b! 1", `gate "a.b! 1": column 4: expected a letter, digit, _, -, @, =, &, . or an operator, got "!"`},
		{"évasion.x > 1", `gate "évasion.x > 1": column 1: expected a metric name, got "é"`},
		{"a.é > 1", `gate "a.é > 1": column 3: expected a letter, digit, _, -, @, =, &, . or an operator, got "é"`},
		{".a > 1", `gate ".a > 1": column 1: expected a metric name segment, got "."`},
		{"a..b > 1", `gate "a..b > 1": column 3: expected a metric name segment, got "."`},
		{"a.b. > 1", `gate "a.b. > 1": column 5: expected a metric name segment after ".", got white space`},
		{"a.b.", `gate "a.b.": column 5: expected a metric name segment after ".", got end of input`},
		{"a.b", `gate "a.b": column 4: expected an operator (< <= > >= == !=), got end of input`},
		{"a.b c >= 1", `gate "a.b c >= 1": column 5: expected an operator (< <= > >= == !=), got "c"`},
		{"a.b = 1", `gate "a.b = 1": column 5: expected an operator (< <= > >= == !=), got "="`},
		{"a.b =< 1", `gate "a.b =< 1": column 5: expected an operator (< <= > >= == !=), got "=<"`},
		{"a.b >=", `gate "a.b >=": column 7: expected a number, got end of input`},
		{"a.b >= ", `gate "a.b >= ": column 8: expected a number, got end of input`},
		{"a.b >= 1x", `gate "a.b >= 1x": column 8: expected a number, got "1x"`},
		{"a.b >= 0.5%", `gate "a.b >= 0.5%": column 8: expected a number, got "0.5%"`},
		{"a.b >= > 1", `gate "a.b >= > 1": column 8: expected a number, got ">"`},
		{"a.b >= 1 2", `gate "a.b >= 1 2": column 10: expected end of input, got "2"`},
		{"a.b >= 1 and c.d < 2", `gate "a.b >= 1 and c.d < 2": column 10: expected end of input, got "and"`},
		{"a.b >= NaN", `gate "a.b >= NaN": column 8: expected a finite number, got "NaN"`},
		{"a.b >= Inf", `gate "a.b >= Inf": column 8: expected a finite number, got "Inf"`},
		{"a.b >= -infinity", `gate "a.b >= -infinity": column 8: expected a finite number, got "-infinity"`},
		{"a.b >= 1e999", `gate "a.b >= 1e999": column 8: expected a number within float64 range, got "1e999"`},
	}
	for _, tt := range tests {
		g, err := ParseGate(tt.in)
		if err == nil {
			t.Errorf("ParseGate(%q) = %+v, want error %s", tt.in, g, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseGate(%q) error:\n got  %s\n want %s", tt.in, err, tt.want)
		}
		if c := errs.Code(err, -1); c != errs.Invalid {
			t.Errorf("ParseGate(%q): exit code %d, want %d", tt.in, c, errs.Invalid)
		}
	}
}

func TestGateString(t *testing.T) {
	// The canonical form is "<metric> <op> <FormatFloat(t,'g',-1,64)>".
	tests := []struct {
		g    Gate
		want string
	}{
		{Gate{Metric: "a.b", Op: ">=", Threshold: 0.9}, "a.b >= 0.9"},
		{Gate{Metric: "a.b", Op: "<", Threshold: 1e-7}, "a.b < 1e-07"},
		{Gate{Metric: "a.b", Op: "!=", Threshold: -3}, "a.b != -3"},
	}
	for _, tt := range tests {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.g, got, tt.want)
		}
	}
}

func FuzzParseGate(f *testing.F) {
	for _, s := range []string{
		"accuracy.top1 >= 0.9",
		"evasion.pgd.linf.eps=0.03.robust_accuracy>=0.5",
		"membership.loss.tpr@fpr=0.001 <= 0.05",
		"a.b==-1e-3",
		"a.b != 0x1p-4",
		"acc >= x",
		"a.b. > 1",
		"a..b<1",
		"a.b = = 1",
		"a.b >= NaN",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGate(s)
		if err != nil {
			if c := errs.Code(err, -1); c != errs.Invalid {
				t.Fatalf("ParseGate(%q): error %v has exit code %d, want %d", s, err, c, errs.Invalid)
			}
			return
		}
		if math.IsNaN(g.Threshold) || math.IsInf(g.Threshold, 0) {
			t.Fatalf("ParseGate(%q): threshold %v is not finite", s, g.Threshold)
		}
		if g.Suite() == "" || g.Key() == "" {
			t.Fatalf("ParseGate(%q): empty suite or key in %q", s, g.Metric)
		}
		c := g.String()
		h, err := ParseGate(c)
		if err != nil {
			t.Fatalf("ParseGate(%q) = %q, which does not re-parse: %v", s, c, err)
		}
		if h.Metric != g.Metric || h.Op != g.Op ||
			math.Float64bits(h.Threshold) != math.Float64bits(g.Threshold) || h.Expr != c {
			t.Fatalf("ParseGate(%q) = %+v; re-parsing %q gives %+v", s, g, c, h)
		}
	})
}
