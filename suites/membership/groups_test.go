package membership

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
)

// adultMembers writes the members of the shared adult model to a CSV in a
// temporary folder and returns its path: the model's training split, UCI
// adult.data (shared/datasets/adult) with every row holding a "?" dropped,
// encoded as shared/fixtures/tabular/README.md says adult_test.csv is
// (numerics standardised with the training means and population standard
// deviations of REFERENCE.json's models.adult_mlp.encoding, rounded to 6
// decimals; one-hot categories in that file's order; native-country
// United-States or Other), with the same header, label, sex, race and age.
// docs/metrics/membership.md describes the same split for users.
func adultMembers(t *testing.T) string {
	t.Helper()
	tab := testutil.Shared(t, "fixtures/tabular")
	raw := testutil.Shared(t, "datasets/adult")
	b, err := os.ReadFile(filepath.Join(tab, "REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rawRef struct {
		Models struct {
			Adult struct {
				Encoding struct {
					Numeric map[string]map[string]any `json:"numeric"`
				} `json:"encoding"`
			} `json:"adult_mlp"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &rawRef); err != nil {
		t.Fatal(err)
	}
	num := rawRef.Models.Adult.Encoding.Numeric
	f, err := os.Open(filepath.Join(tab, "adult_test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, err := csv.NewReader(f).Read()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// adult.data's columns (UCI adult.names order).
	cols := map[string]int{"age": 0, "workclass": 1, "education-num": 4, "marital-status": 5, "occupation": 6,
		"relationship": 7, "race": 8, "sex": 9, "capital-gain": 10, "capital-loss": 11, "hours-per-week": 12, "native-country": 13}
	in, err := os.Open(filepath.Join(raw, "adult.data"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(t.TempDir(), "adult_members.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(out)
	w.Write(header)
	sc := bufio.NewScanner(in)
	row := make([]string, len(header))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.Contains(line, "?") {
			continue
		}
		v := strings.Split(line, ",")
		for i := range v {
			v[i] = strings.TrimSpace(v[i])
		}
		for j, h := range header {
			switch {
			case strings.HasPrefix(h, "num_"):
				attr := strings.TrimPrefix(h, "num_")
				x, err := strconv.ParseFloat(v[cols[attr]], 64)
				if err != nil {
					t.Fatal(err)
				}
				e := num[attr]
				row[j] = strconv.FormatFloat((x-e["mean"].(float64))/e["std"].(float64), 'f', 6, 64)
			case strings.HasPrefix(h, "cat_"):
				attr, val, _ := strings.Cut(strings.TrimPrefix(h, "cat_"), "_")
				got := v[cols[attr]]
				if attr == "native-country" && got != "United-States" {
					got = "Other"
				}
				row[j] = "0"
				if got == val {
					row[j] = "1"
				}
			case h == "label":
				row[j] = "0"
				if v[14] == ">50K" {
					row[j] = "1"
				}
			default: // sex, race, age
				row[j] = v[cols[h]]
			}
		}
		w.Write(row)
	}
	w.Flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// adultSpec is suitetest.Adult's data block for csv.
func adultSpec(csv string) map[string]any {
	return map[string]any{"csv": csv, "label": "label", "exclude": []any{"age"}}
}

// TestByGroupAdultMembership runs the loss and confidence attacks on the
// shared adult model, members its 30,162 training rows (adultMembers),
// nonmembers the 15,060 rows of adult_test.csv, by sex and race. Expected
// figures: member accuracy is REFERENCE.json's train_accuracy 0.8618460…
// = 25,995 / 30,162 exactly, which checks the members' encoding; each
// group's members and nonmembers counts equal the fairness suite's group
// counts on the members and on adult_test.csv; worst_group and gap are the
// highest and largest spread of the per-group advantages.
func TestByGroupAdultMembership(t *testing.T) {
	members := adultMembers(t)
	tab := testutil.Shared(t, "fixtures/tabular")
	tg := suitetest.Open(t, filepath.Join(tab, "adult_mlp.onnx"), nil)
	tg.BatchSize, tg.Pool, tg.Seed = 1024, runtime.Pool{Workers: 2}, 7
	raw := map[string]any{
		"members":    adultSpec(members),
		"nonmembers": adultSpec(filepath.Join(tab, "adult_test.csv")),
		"attacks":    []any{"loss", "confidence"},
		"by":         []any{"sex", "race"},
		"n_boot":     200, // the intervals' rounds; 1000 (the default) takes 12 s more here
	}
	res := suitetest.Run(t, Suite{}, tg, raw)
	if got, want := res.Metrics["member_accuracy"], 25995.0/30162; math.Abs(got-want) > 1e-15 {
		t.Fatalf("member accuracy %v, want %v (REFERENCE.json train_accuracy): the members are not the training split", got, want)
	}

	// The fairness suite's group counts on each set.
	counts := map[string]map[string]int64{} // "members"/"nonmembers" → "attr=group" → count
	for set, csvPath := range map[string]string{"members": members, "nonmembers": filepath.Join(tab, "adult_test.csv")} {
		ds := suitetest.Load(t, data.Spec{CSV: csvPath, Label: "label", Keep: []string{"sex", "race"}, Exclude: []string{"age"}}, "")
		ft := suitetest.Open(t, filepath.Join(tab, "adult_mlp.onnx"), ds)
		ft.BatchSize, ft.Pool, ft.Seed = 1024, runtime.Pool{Workers: 2}, 1
		fres := suitetest.Run(t, fairness.Suite{}, ft, map[string]any{"sensitive": []any{"sex", "race"}, "n_boot": 0})
		counts[set] = map[string]int64{}
		for attr, ad := range fres.Details["attributes"].(map[string]any) {
			for _, g := range ad.(map[string]any)["groups"].([]any) {
				g := g.(map[string]any)
				counts[set][attr+"="+g["group"].(string)] = g["count"].(int64)
			}
		}
	}
	for _, attack := range []string{"loss", "confidence"} {
		key := attack + ".advantage"
		bg := res.Details[groups.DetailsKey].(map[string]any)[key].(map[string]any)["attributes"].(map[string]any)
		compared := 0
		worst := math.Inf(-1)
		for _, attr := range []string{"sex", "race"} {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, r := range bg[attr].(map[string]any)["groups"].([]any) {
				r := r.(map[string]any)
				g := attr + "=" + r["group"].(string)
				if int64(r["members"].(int)) != counts["members"][g] || int64(r["nonmembers"].(int)) != counts["nonmembers"][g] {
					t.Errorf("%s %s: %v members, %v nonmembers; fairness counts %d and %d", key, g, r["members"], r["nonmembers"], counts["members"][g], counts["nonmembers"][g])
				}
				v := r["value"].(float64)
				lo, hi, worst = math.Min(lo, v), math.Max(hi, v), math.Max(worst, v)
				compared++
			}
			if got := res.Metrics[key+"."+attr+".gap"]; math.Abs(got-(hi-lo)) > 1e-12 {
				t.Errorf("%s.%s.gap %v, want %v", key, attr, got, hi-lo)
			}
		}
		if compared != 7 {
			t.Errorf("%s: compared %d groups, want 7", key, compared)
		}
		if got := res.Metrics[key+".worst_group"]; got != worst {
			t.Errorf("%s.worst_group %v, want the highest group advantage %v", key, got, worst)
		}
		t.Logf("%s %.4f; worst group %.4f, gap %.4f; %v", key, res.Metrics[key], res.Metrics[key+".worst_group"], res.Metrics[key+".gap"], bg)
	}
}

// TestByMissingColumn: by naming a column the members CSV lacks is a
// config error (exit code 2) naming the key, the column and the set, on
// the demo's members and nonmembers (examples/adult, as examples/demo.yaml
// reads them), which hold sex and race.
func TestByMissingColumn(t *testing.T) {
	dir := testutil.Example(t, "adult")
	tg := suitetest.Open(t, filepath.Join(dir, "adult_mlp.onnx"), nil)
	tg.BatchSize, tg.Pool, tg.Seed = 256, runtime.Pool{Workers: 1}, 7
	tg.BaseDir = dir
	cfg, err := Suite{}.Decode(map[string]any{
		"members":    map[string]any{"csv": "adult_train.csv", "label": "label", "keep": []any{"sex", "race"}},
		"nonmembers": map[string]any{"csv": "adult_eval.csv", "label": "label", "keep": []any{"sex", "race"}},
		"attacks":    []any{"loss"},
		"by":         []any{"sex", "religion"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = `config suites.membership.by[1]: column "religion" is not in the CSV data of suites.membership.members`
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) {
		t.Errorf("Run: %v, want exit 2 with %q", err, want)
	}
}

// TestRocBootEval: counting every row once, the bootstrap's ROC gives
// learn.NewROC's advantage and AUC exactly, ties included (scores with
// repeated values, members and nonmembers sharing some); a round is
// reproducible from its seed.
func TestRocBootEval(t *testing.T) {
	scores := []float64{0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.5, 0.3, 0.2, 0.2, 0.1, 0.9}
	labels := []bool{true, true, false, true, false, true, false, false, true, false, false, false}
	roc := learn.NewROC(scores, labels, nil)
	wantAdv, _ := roc.Advantage()
	bs := newRocBoot(scores, labels)
	for _, p := range bs.mem {
		bs.dtp[p]++
	}
	for _, p := range bs.non {
		bs.dfp[p]++
	}
	adv, auc := bs.eval()
	if adv != wantAdv || auc != roc.AUC() {
		t.Errorf("eval: advantage %v AUC %v, learn.NewROC %v %v", adv, auc, wantAdv, roc.AUC())
	}
	a1, u1 := newRocBoot(scores, labels).round(rand.New(rand.NewPCG(3, 0)))
	a2, u2 := newRocBoot(scores, labels).round(rand.New(rand.NewPCG(3, 0)))
	if a1 != a2 || u1 != u2 {
		t.Errorf("the same seed gave %v %v and %v %v", a1, u1, a2, u2)
	}
}
