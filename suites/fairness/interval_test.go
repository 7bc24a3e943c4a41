package fairness

import (
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// group is one group of accuracyGroups: n rows, the first hits of them
// predicted right.
type group struct {
	name    string
	n, hits int
}

// accuracyGroups builds a binary input whose groups have the given sizes
// and hit counts: labels alternate 0, 1, 0, …; a row is predicted right
// when it is among its group's first hits rows, else wrong.
func accuracyGroups(gs []group) (*Input, *Partition) {
	in := &Input{Classes: 2, Positive: 1}
	var col []string
	for _, g := range gs {
		for i := range g.n {
			y := int64(i % 2)
			p := int32(y)
			if i >= g.hits {
				p = 1 - p
			}
			in.Y = append(in.Y, y)
			in.Pred = append(in.Pred, p)
			in.Score = append(in.Score, float64(p))
			col = append(col, g.name)
		}
	}
	p, err := NewPartition([]string{"g"}, [][]string{col}, false)
	if err != nil {
		panic(err)
	}
	return in, p
}

// TestSmallGroupIntervalFlagged is the case: small groups whose
// accuracies are close to the large group's, so accuracy_difference (a max
// − min) is small and resampling noise pushes almost every round above
// it. The rounds are fixed by the seed (exact binomial sampler, PCG
// source), so the counts below are those of this run.
func TestSmallGroupIntervalFlagged(t *testing.T) {
	const key = "g.accuracy_difference"
	run := func(gs []group, method string) (v, lo, hi float64, note string, warned bool) {
		t.Helper()
		in, p := accuracyGroups(gs)
		res, err := Compute(in, p, Options{NBoot: 1000, Bins: 15, Seed: 1, Level: 0.95, Interval: method})
		if err != nil {
			t.Fatal(err)
		}
		if notes, ok := res.Details["interval_notes"].(map[string]string); ok {
			note = notes[key]
		}
		for _, w := range res.Warnings {
			warned = warned || (strings.Contains(w, "do not contain their estimate") && strings.Contains(w, key))
		}
		return res.Metrics[key], res.Metrics[key+".ci_low"], res.Metrics[key+".ci_high"], note, warned
	}

	// Accuracies 280/400 = 0.7, 18/26 = 0.6923 and 12/17 = 0.7059: the
	// estimate is 12/17 − 18/26 = 0.01357 (by hand). Of the 1000 rounds, 3
	// lie below it, 14 tie with it (the small groups' counts come back) and
	// 983 above, so the percentile interval's 2.5% quantile is above it.
	small := []group{{"A", 400, 280}, {"B", 26, 18}, {"C", 17, 12}}
	v, lo, hi, note, warned := run(small, IntervalPercentile)
	near(t, key, v, 12.0/17-18.0/26, handTol)
	if !(lo > v) {
		t.Fatalf("percentile interval [%v, %v] contains %v: the case does not show the problem", lo, hi, v)
	}
	for _, want := range []string{"the percentile interval [0.02", "does not contain the estimate 0.01357", "0.3% lie below it, 1.4% at it and 98.3% above", "a boundary statistic"} {
		if !strings.Contains(note, want) {
			t.Errorf("percentile note %q lacks %q", note, want)
		}
	}
	if !warned {
		t.Error("no warning names the interval that excludes its estimate")
	}
	// BCa on the same rounds: z0 = Φ⁻¹((3 + 14/2)/1000) = −2.326 moves the
	// levels down to about 0.00001 and 0.0036; the 0.36% quantile falls
	// among the 14 tied rounds (ranks 4–17), so the interval ends at the
	// estimate and contains it.
	v, lo, hi, note, warned = run(small, IntervalBCa)
	if !(lo <= v && v <= hi) || note != "" || warned {
		t.Errorf("BCa interval [%v, %v] of %v, note %q, warned %v: want it to contain the estimate, unflagged", lo, hi, v, note, warned)
	}
	if hi != v {
		t.Errorf("BCa upper bound %v, want the estimate %v (the tied rounds)", hi, v)
	}

	// Without the ties BCa does not help: it moves the interval to the
	// other side of the estimate. Accuracies 0.7, 0.7, 8/12 and 6/9:
	// estimate 0.7 − 2/3 = 0.0333; 1.2% of the rounds below it, 0.2% at
	// it. In the continuous limit BCa contains the estimate exactly when
	// the percentile interval does (both need |z0| ≤ z_(1−α/2)), so both are
	// flagged, each with its side.
	far := []group{{"A", 400, 280}, {"B", 200, 140}, {"C", 12, 8}, {"D", 9, 6}}
	v, lo, _, note, _ = run(far, IntervalPercentile)
	if !(lo > v) || !strings.Contains(note, "1.2% lie below it, 0.2% at it") {
		t.Errorf("percentile: lo %v, estimate %v, note %q", lo, v, note)
	}
	v, _, hi, note, warned = run(far, IntervalBCa)
	if !(hi < v) || !warned || !strings.Contains(note, "it lies below the estimate") || !strings.Contains(note, "the BCa interval") {
		t.Errorf("BCa: hi %v, estimate %v, warned %v, note %q", hi, v, warned, note)
	}

	// Every round on one side (an estimate of 0, every group's accuracy
	// 0.7, never tied in resampling): BCa has no bias correction and the
	// percentile interval is reported, with the reason.
	_, _, _, note, _ = run([]group{{"A", 400, 280}, {"B", 200, 140}, {"C", 10, 7}, {"D", 10, 7}}, IntervalBCa)
	if !strings.Contains(note, "BCa has no bias correction (z0 = -Inf) and the interval is the percentile one") {
		t.Errorf("one-sided note %q", note)
	}
}

// TestJackknifeMatchesRowJackknife: the closed-form jackknife over cells
// equals the jackknife that deletes each row of each eligible group in
// turn and recounts (written here directly), to round-off: the grouped
// sums add the same terms in another order.
func TestJackknifeMatchesRowJackknife(t *testing.T) {
	const tol = 1e-12
	in, cols := synthetic(400)
	p, err := NewPartition([]string{"race"}, [][]string{cols[1]}, false)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Attrs[0]
	tb := NewTable(p.NCells, 2, 15)
	if err := tb.Add(in, p.Cell); err != nil {
		t.Fatal(err)
	}
	gt := tb.Collapse(a.Of, len(a.Groups))
	ng := len(a.Groups)
	// Leave the smallest group out (as min_group_size would) and make the
	// second group the reference: both must carry through.
	counts := make([]int64, ng)
	for _, c := range p.Cell {
		counts[a.Of[c]]++
	}
	smallest := 0
	for g := range ng {
		if counts[g] < counts[smallest] {
			smallest = g
		}
	}
	var elig []int
	for g := range ng {
		if g != smallest {
			elig = append(elig, g)
		}
	}
	ref := elig[1]
	got := jackknife(gt, elig, ref, 1)

	names := metricNames(2)
	jack := make([][]stats.JackknifeValue, len(names))
	vec := make([]float64, len(names))
	n := len(in.Y)
	for i := range n {
		g := int(a.Of[p.Cell[i]])
		s := -1
		for j, e := range elig {
			if e == g {
				s = j
			}
		}
		if s < 0 {
			continue // not resampled, so not jackknifed
		}
		cut := &Input{Classes: 2, Positive: 1,
			Y:     append(append([]int64{}, in.Y[:i]...), in.Y[i+1:]...),
			Pred:  append(append([]int32{}, in.Pred[:i]...), in.Pred[i+1:]...),
			Score: append(append([]float64{}, in.Score[:i]...), in.Score[i+1:]...)}
		cells := append(append([]int32{}, p.Cell[:i]...), p.Cell[i+1:]...)
		t2 := NewTable(p.NCells, 2, 15)
		if err := t2.Add(cut, cells); err != nil {
			t.Fatal(err)
		}
		disparities(vec, t2.Collapse(a.Of, ng).Conf, 2, 1, elig, ref)
		for m, v := range vec {
			jack[m] = append(jack[m], stats.JackknifeValue{Stratum: s, Value: v, Count: 1})
		}
	}
	nonzero := 0
	for m, name := range names {
		want := stats.Acceleration(jack[m])
		near(t, name+" acceleration", got[m], want, tol)
		if want != 0 {
			nonzero++
		}
	}
	if nonzero < len(names)/2 {
		t.Errorf("only %d of %d accelerations are non-zero: the comparison is empty", nonzero, len(names))
	}

	// The Theil index: one stratum, every row deleted in turn.
	oc := binary(tb.Collapse(make([]int32, tb.Cells), 1).Conf, 2, 1)
	var tj []stats.JackknifeValue
	for _, r := range []struct{ fn, fp, count int64 }{{oc.fn - 1, oc.fp, oc.fn}, {oc.fn, oc.fp - 1, oc.fp}, {oc.fn, oc.fp, oc.n - oc.fn - oc.fp}} {
		for range r.count {
			tj = append(tj, stats.JackknifeValue{Value: theil(r.fn, r.fp, oc.n-1), Count: 1})
		}
	}
	near(t, "theil acceleration", theilAcceleration(oc.fn, oc.fp, oc.n), stats.Acceleration(tj), tol)
}

// TestIntervalConfig: interval defaults to bca, takes percentile, reads
// "BCa" as bca, and refuses anything else with exit 2 naming the key.
func TestIntervalConfig(t *testing.T) {
	decode := func(raw map[string]any) (Config, error) {
		c, err := Suite{}.Decode(raw)
		if err != nil {
			return Config{}, err
		}
		return c.(Config), nil
	}
	for in, want := range map[any]string{nil: IntervalPercentile, "percentile": IntervalPercentile, "BCa": IntervalBCa, "bca": IntervalBCa} {
		raw := map[string]any{"sensitive": []any{"sex"}}
		if in != nil {
			raw["interval"] = in
		}
		c, err := decode(raw)
		if err != nil || c.Interval != want {
			t.Errorf("interval %v: %q, %v; want %q", in, c.Interval, err, want)
		}
	}
	for _, bad := range []any{"Studentized", ""} {
		_, err := decode(map[string]any{"sensitive": []any{"sex"}, "interval": bad})
		want := `config suites.fairness.interval: "` + bad.(string) + `" is not an interval method (want one of: bca, percentile)`
		if errs.Code(err, 0) != errs.Invalid || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("interval %q: error %v; want exit 2 and %q", bad, err, want)
		}
	}
}

// TestIntervalDetails: the report says which interval it holds and, for
// BCa, each metric's z0 and acceleration; with z0 = 0 and acceleration 0
// BCa would be the percentile interval, so on a large sample, where the
// bootstrap distribution is near-normal, the two agree closely.
func TestIntervalDetails(t *testing.T) {
	in, cols := synthetic(20_000)
	p, err := NewPartition([]string{"sex"}, [][]string{cols[0]}, false)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := Compute(in, p, Options{NBoot: 2000, Bins: 15, Seed: 3, Level: 0.95, Interval: IntervalBCa})
	rp, _ := Compute(in, p, Options{NBoot: 2000, Bins: 15, Seed: 3, Level: 0.95, Interval: IntervalPercentile})
	if rb.Details["interval"] != IntervalBCa || rp.Details["interval"] != IntervalPercentile {
		t.Errorf("details.interval %v and %v", rb.Details["interval"], rp.Details["interval"])
	}
	b := rb.Details["attributes"].(map[string]any)["sex"].(map[string]any)["bootstrap"].(map[string]any)
	if b["interval"] != IntervalBCa {
		t.Errorf("bootstrap.interval %v", b["interval"])
	}
	bca := b["bca"].(map[string]any)
	z0 := bca["z0"].(map[string]any)["statistical_parity_difference"].(float64)
	acc := bca["acceleration"].(map[string]any)["statistical_parity_difference"].(float64)
	// A difference of two proportions of ~10,000 rows each: skewness/6 of
	// order (1−2p)/(6·sqrt(n·p·q)) ~ 0.001, bias correction within sampling
	// error of 0 (|z0| < 3·sqrt(1/2000)/φ(0) ≈ 0.17).
	if math.Abs(acc) > 0.01 || math.Abs(z0) > 0.17 {
		t.Errorf("z0 %v acceleration %v", z0, acc)
	}
	const k = "sex.statistical_parity_difference"
	sd := (rp.Metrics[k+".ci_high"] - rp.Metrics[k+".ci_low"]) / (2 * 1.96)
	for _, s := range []string{".ci_low", ".ci_high"} {
		near(t, k+s+" BCa vs percentile", rb.Metrics[k+s], rp.Metrics[k+s], 0.25*sd)
	}
	if _, ok := rb.Details["interval_notes"]; ok {
		t.Errorf("interval notes on a large sample: %v", rb.Details["interval_notes"])
	}
}
