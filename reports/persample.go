package reports

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// PerSampleKey is the SuiteResult.Details key under which a suite reports
// per-sample outcomes, so that two runs can be compared sample by sample
// (McNemar's test, newly broken samples). Its value is
//
//	{"n": 360,
//	 "ids": ["a17", …],               // optional; row indices when absent
//	 "outcomes": {"correct": "<base64>", "pgd.linf.eps=0.03.robust": "<base64>"}}
//
// Each outcome is a bit per sample, true meaning "good" (correct, robust,
// not flipped), packed most significant bit first as numpy.packbits does
// (bitorder "big"; the last byte padded with zeros) and base64-encoded with
// padding (RFC 4648 §4). np.unpackbits(np.frombuffer(base64.b64decode(s),
// np.uint8))[:n] reads it back. docs/reports.md documents the convention.
const PerSampleKey = "per_sample"

// Bits is a packed bit set of per-sample outcomes (see PerSampleKey). Set
// is allocation-free, for per-sample loops.
type Bits []byte

// NewBits returns a zeroed bit set of n bits.
func NewBits(n int) Bits { return make(Bits, (n+7)/8) }

// Set sets bit i to v.
func (b Bits) Set(i int, v bool) {
	mask := byte(0x80) >> (i % 8)
	if v {
		b[i/8] |= mask
	} else {
		b[i/8] &^= mask
	}
}

// Get returns bit i.
func (b Bits) Get(i int) bool { return b[i/8]&(byte(0x80)>>(i%8)) != 0 }

// String returns the bits base64-encoded.
func (b Bits) String() string { return base64.StdEncoding.EncodeToString(b) }

// PerSample is the decoded per-sample value of a suite's details.
type PerSample struct {
	N        int               `json:"n"`
	IDs      []string          `json:"ids,omitempty"`
	Outcomes map[string]string `json:"outcomes"`
}

// PerSampleDetails returns the Details value for n samples with optional
// ids (nil: row indices) and the named outcomes.
func PerSampleDetails(n int, ids []string, outcomes map[string]Bits) map[string]any {
	enc := make(map[string]any, len(outcomes))
	for k, b := range outcomes {
		enc[k] = b.String()
	}
	v := map[string]any{"n": n, "outcomes": enc}
	if ids != nil {
		v["ids"] = ids
	}
	return v
}

// DecodePerSample reads a suite's per-sample outcomes from its details. ok
// is false when the suite reports none; an error says what is malformed.
// It accepts the in-memory form (PerSampleDetails) and the form read back
// from JSON alike.
func DecodePerSample(details map[string]any) (ps *PerSample, ok bool, err error) {
	raw, ok := details[PerSampleKey]
	if !ok || raw == nil {
		return nil, false, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, true, fmt.Errorf("details.%s: %w", PerSampleKey, err)
	}
	ps = &PerSample{}
	if err := json.Unmarshal(b, ps); err != nil {
		return nil, true, fmt.Errorf("details.%s: %w", PerSampleKey, err)
	}
	if ps.N < 0 {
		return nil, true, fmt.Errorf("details.%s.n: %d is negative", PerSampleKey, ps.N)
	}
	if ps.IDs != nil && len(ps.IDs) != ps.N {
		return nil, true, fmt.Errorf("details.%s.ids: %d ids for n = %d", PerSampleKey, len(ps.IDs), ps.N)
	}
	for k, s := range ps.Outcomes {
		bits, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, true, fmt.Errorf("details.%s.outcomes.%s: %w", PerSampleKey, k, err)
		}
		if len(bits) != (ps.N+7)/8 {
			return nil, true, fmt.Errorf("details.%s.outcomes.%s: %d bytes for n = %d (want %d)", PerSampleKey, k, len(bits), ps.N, (ps.N+7)/8)
		}
	}
	return ps, true, nil
}

// Bits returns the decoded bits of outcome k (DecodePerSample has checked
// them).
func (p *PerSample) Bits(k string) Bits {
	b, _ := base64.StdEncoding.DecodeString(p.Outcomes[k])
	return b
}

// ID returns the id of sample i.
func (p *PerSample) ID(i int) string {
	if p.IDs != nil {
		return p.IDs[i]
	}
	return strconv.Itoa(i)
}

// compareOutcomes pairs the per-sample outcomes of a suite in two reports.
// Samples pair by id when both carry ids, by row when neither does and the
// data files are the same; otherwise nothing is paired and the note says
// why.
func compareOutcomes(o, n *SuiteResult, old, cur *Report) ([]OutcomeComparison, string) {
	out := []OutcomeComparison{}
	po, okO, errO := DecodePerSample(o.Details)
	pn, okN, errN := DecodePerSample(n.Details)
	switch {
	case errO != nil:
		return out, "baseline per-sample outcomes unreadable: " + errO.Error()
	case errN != nil:
		return out, "per-sample outcomes unreadable: " + errN.Error()
	case !okO && !okN:
		return out, ""
	case !okO:
		return out, "the baseline carries no per-sample outcomes"
	case !okN:
		return out, "this run carries no per-sample outcomes"
	}
	// pair[i] = index in po of sample i of pn, or -1.
	pair := make([]int, pn.N)
	switch {
	case po.IDs != nil && pn.IDs != nil:
		idx := make(map[string]int, po.N)
		for i, id := range po.IDs {
			idx[id] = i
		}
		for i, id := range pn.IDs {
			if j, ok := idx[id]; ok {
				pair[i] = j
			} else {
				pair[i] = -1
			}
		}
	case po.IDs == nil && pn.IDs == nil && po.N == pn.N && sameData(old.Data, cur.Data):
		for i := range pair {
			pair[i] = i
		}
	case po.IDs == nil && pn.IDs == nil:
		return out, "samples cannot be paired: the data differ from the baseline's and carry no ids"
	default:
		return out, "samples cannot be paired: only one of the reports carries sample ids"
	}
	names := make([]string, 0, len(pn.Outcomes))
	for k := range pn.Outcomes {
		if _, ok := po.Outcomes[k]; ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		bo, bn := po.Bits(k), pn.Bits(k)
		oc := OutcomeComparison{Outcome: k, NewlyBroken: []string{}}
		var oldTrue, newTrue int
		for i, j := range pair {
			if j < 0 {
				continue
			}
			oc.Paired++
			a, b := bo.Get(j), bn.Get(i)
			if a {
				oldTrue++
			}
			if b {
				newTrue++
			}
			switch {
			case a && b:
				oc.BothTrue++
			case !a && !b:
				oc.BothFalse++
			case a && !b:
				oc.Broken++
				if len(oc.NewlyBroken) < MaxListedIDs {
					oc.NewlyBroken = append(oc.NewlyBroken, pn.ID(i))
				}
			default:
				oc.Fixed++
			}
		}
		oc.NewlyBrokenTotal = oc.Broken
		if oc.Paired > 0 {
			oc.OldAccuracy = float64(oldTrue) / float64(oc.Paired)
			oc.NewAccuracy = float64(newTrue) / float64(oc.Paired)
		}
		oc.PValue = stats.McNemarExact(oc.Broken, oc.Fixed)
		out = append(out, oc)
	}
	return out, ""
}
