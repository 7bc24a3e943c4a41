package reports

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Gate operators.
const (
	OpLT = "<"
	OpLE = "<="
	OpGT = ">"
	OpGE = ">="
	OpEQ = "=="
	OpNE = "!="
)

// Ops lists the gate operators in the order the grammar gives them.
var Ops = []string{OpLT, OpLE, OpGT, OpGE, OpEQ, OpNE}

// Gate is one parsed gate: a condition on one metric of one suite that must
// hold for the run to pass.
type Gate struct {
	// Expr is the expression as the user wrote it, surrounding white space
	// trimmed.
	Expr string
	// Metric is the full dotted metric name, "<suite>.<key>".
	Metric string
	// Op is one of < <= > >= == !=.
	Op string
	// Threshold is the finite number the metric is compared with.
	Threshold float64
}

// Suite returns the suite the gate's metric belongs to: the metric's first
// dotted segment.
func (g Gate) Suite() string {
	suite, _, _ := strings.Cut(g.Metric, ".")
	return suite
}

// Key returns the metric name relative to the suite: everything after the
// first dot. It is the key of the suite's Metrics map.
func (g Gate) Key() string {
	_, key, _ := strings.Cut(g.Metric, ".")
	return key
}

// String returns the gate in canonical form, "<metric> <op> <number>", with
// the threshold written by strconv.FormatFloat(t, 'g', -1, 64). ParseGate
// of String returns the same Metric, Op and Threshold.
func (g Gate) String() string {
	return g.Metric + " " + g.Op + " " + strconv.FormatFloat(g.Threshold, 'g', -1, 64)
}

// ParseGate parses a gate expression. The grammar, in the style of k6
// thresholds, is
//
//	gate    = ws metric ws op ws number ws
//	metric  = suite "." key
//	suite   = segment
//	key     = segment { "." segment }
//	segment = char { char }
//	char    = "A".."Z" | "a".."z" | "0".."9" | "_" | "-" | "@" | "=" | "&"
//	op      = "<" | "<=" | ">" | ">=" | "==" | "!="
//	number  = a finite Go floating-point literal as accepted by
//	          strconv.ParseFloat: 0.9, -1, 1e-3, .5, 0x1p-4
//	ws      = { " " | "\t" | "\n" | "\r" }
//
// The metric is tokenised on white space and operators, never on dots, so a
// dot inside a number that is part of a name is part of the name:
// "evasion.pgd.linf.eps=0.03.robust_accuracy >= 0.5" names key
// "pgd.linf.eps=0.03.robust_accuracy" of suite "evasion". "&" joins
// intersectional attributes: "fairness.sex&race.demographic_parity_ratio". A single "=" is a
// name character; "==" always starts an operator. The number ends at white
// space; NaN and infinities are rejected.
//
// Errors carry exit code errs.Invalid and say what was expected at which
// (1-based, in characters) column:
//
//	gate "acc >= x": column 8: expected a number, got "x"
func ParseGate(s string) (Gate, error) {
	p := gateParser{src: s}
	return p.parse()
}

// gateParser holds the state of one ParseGate call.
type gateParser struct {
	src string
	pos int // byte offset into src
}

func (p *gateParser) errorf(at int, expected, got string) error {
	col := utf8.RuneCountInString(p.src[:at]) + 1
	return errs.Invalidf("gate %q: column %d: expected %s, got %s", p.src, col, expected, got)
}

// token returns the text from at up to the next white space, quoted, or
// "end of input" or "white space".
func (p *gateParser) token(at int) string {
	if at >= len(p.src) {
		return "end of input"
	}
	end := at
	for end < len(p.src) && !isSpace(p.src[end]) {
		end++
	}
	if end == at {
		return "white space"
	}
	return strconv.Quote(p.src[at:end])
}

func (p *gateParser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func (p *gateParser) parse() (Gate, error) {
	p.skipSpace()
	metricAt := p.pos
	metric, err := p.metric()
	if err != nil {
		return Gate{}, err
	}
	p.skipSpace()
	op, err := p.op()
	if err != nil {
		return Gate{}, err
	}
	p.skipSpace()
	threshold, err := p.number()
	if err != nil {
		return Gate{}, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return Gate{}, p.errorf(p.pos, "end of input", p.token(p.pos))
	}
	// The suite/key split is checked last, so that a syntax error later in
	// the expression is reported where it is.
	if !strings.Contains(metric, ".") {
		return Gate{}, p.errorf(metricAt, `a metric "<suite>.<key>"`, strconv.Quote(metric))
	}
	return Gate{
		Expr:      strings.TrimSpace(p.src),
		Metric:    metric,
		Op:        op,
		Threshold: threshold,
	}, nil
}

const nameChars = "a letter, digit, _, -, @, =, &, . or an operator"

// metric scans "<suite>.<key>" up to white space or an operator.
func (p *gateParser) metric() (string, error) {
	start := p.pos
	segStart := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isSpace(c) || startsOp(p.src[p.pos:]) {
			break
		}
		switch {
		case c == '.':
			if p.pos == segStart {
				return "", p.errorf(p.pos, "a metric name segment", strconv.Quote("."))
			}
			segStart = p.pos + 1
		case isNameChar(c):
		default:
			r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
			if p.pos == start {
				return "", p.errorf(p.pos, "a metric name", strconv.Quote(string(r)))
			}
			return "", p.errorf(p.pos, nameChars, strconv.Quote(string(r)))
		}
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf(start, "a metric name", p.token(start))
	}
	if p.pos == segStart {
		// A trailing dot: the last segment is empty.
		return "", p.errorf(p.pos, "a metric name segment after \".\"", p.token(p.pos))
	}
	return p.src[start:p.pos], nil
}

// op scans one operator, longest match first.
func (p *gateParser) op() (string, error) {
	rest := p.src[p.pos:]
	for _, op := range []string{OpLE, OpGE, OpEQ, OpNE, OpLT, OpGT} {
		if strings.HasPrefix(rest, op) {
			p.pos += len(op)
			return op, nil
		}
	}
	return "", p.errorf(p.pos, "an operator (< <= > >= == !=)", p.token(p.pos))
}

// number scans a finite float up to white space.
func (p *gateParser) number() (float64, error) {
	start := p.pos
	for p.pos < len(p.src) && !isSpace(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return 0, p.errorf(start, "a number", "end of input")
	}
	text := p.src[start:p.pos]
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, p.errorf(start, "a number within float64 range", strconv.Quote(text))
		}
		return 0, p.errorf(start, "a number", strconv.Quote(text))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, p.errorf(start, "a finite number", strconv.Quote(text))
	}
	return v, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '@' || c == '=' || c == '&'
}

// startsOp reports whether s begins with an operator. A lone "=" is a name
// character, so only "==" counts.
func startsOp(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '<', '>':
		return true
	case '=', '!':
		return len(s) > 1 && s[1] == '='
	}
	return false
}
