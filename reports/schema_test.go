package reports

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestValidateJSONFull(t *testing.T) {
	b, err := MarshalJSON(fixtureReport())
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(b); err != nil {
		t.Errorf("fully filled report does not validate: %v", err)
	}
}

// mutateJSON marshals the fixture, applies edit to its generic form and
// returns the re-marshalled bytes.
func mutateJSON(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	b, err := MarshalJSON(fixtureReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateJSONInvalid(t *testing.T) {
	suite := func(m map[string]any, i int) map[string]any { return m["suites"].([]any)[i].(map[string]any) }
	gate := func(m map[string]any, i int) map[string]any { return m["gates"].([]any)[i].(map[string]any) }
	// Each edit breaks one rule of the schema; the error must name the
	// location and the field or value at fault.
	tests := []struct {
		name string
		edit func(m map[string]any)
		want []string
	}{
		{"missing schema_version", func(m map[string]any) { delete(m, "schema_version") }, []string{"missing", "schema_version"}},
		{"missing suites", func(m map[string]any) { delete(m, "suites") }, []string{"missing", "suites"}},
		{"missing model.sha256", func(m map[string]any) { delete(m["model"].(map[string]any), "sha256") }, []string{"/model", "sha256"}},
		{"missing gate value", func(m map[string]any) { delete(gate(m, 2), "value") }, []string{"/gates/2", "value"}},
		{"wrong schema_version", func(m map[string]any) { m["schema_version"] = "2" }, []string{"/schema_version"}},
		{"wrong status", func(m map[string]any) { m["status"] = "done" }, []string{"/status", "completed"}},
		{"wrong suite status", func(m map[string]any) { suite(m, 1)["status"] = "ok" }, []string{"/suites/1/status", "interrupted"}},
		{"wrong gate op", func(m map[string]any) { gate(m, 0)["op"] = "=" }, []string{"/gates/0/op"}},
		{"gate value string", func(m map[string]any) { gate(m, 0)["value"] = "0.9" }, []string{"/gates/0/value"}},
		{"metric not a number", func(m map[string]any) { suite(m, 0)["metrics"].(map[string]any)["top1"] = "high" }, []string{"/suites/0/metrics/top1"}},
		{"metrics null", func(m map[string]any) { suite(m, 0)["metrics"] = nil }, []string{"/suites/0/metrics"}},
		{"details array", func(m map[string]any) { suite(m, 0)["details"] = []any{} }, []string{"/suites/0/details"}},
		{"upper-case sha256", func(m map[string]any) { m["config_sha256"] = strings.ToUpper(m["config_sha256"].(string)) }, []string{"/config_sha256"}},
		{"short sha256", func(m map[string]any) { m["data"].([]any)[0].(map[string]any)["sha256"] = "abc" }, []string{"/data/0/sha256"}},
		{"unknown exit code", func(m map[string]any) { m["exit_code"] = 7 }, []string{"/exit_code"}},
		{"negative seed", func(m map[string]any) { m["seed"] = -1 }, []string{"/seed"}},
		{"fractional rows", func(m map[string]any) { m["data"].([]any)[0].(map[string]any)["rows"] = 1.5 }, []string{"/data/0/rows"}},
	}
	for _, tt := range tests {
		err := ValidateJSON(mutateJSON(t, tt.edit))
		if err == nil {
			t.Errorf("%s: validates, want an error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error does not name %q:\n%v", tt.name, w, err)
			}
		}
		if c := errs.Code(err, -1); c != errs.Invalid {
			t.Errorf("%s: exit code %d, want %d", tt.name, c, errs.Invalid)
		}
	}
	for _, bad := range []string{"", "{", "[]", "null"} {
		if err := ValidateJSON([]byte(bad)); err == nil {
			t.Errorf("ValidateJSON(%q) = nil, want an error", bad)
		}
	}
}

// TestSchemaMatchesStructs checks that the schema describes exactly the
// JSON that report.go marshals: each object's properties are the struct's
// json names, and its required list is the fields without omitempty.
func TestSchemaMatchesStructs(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(SchemaJSON, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			d, _ := defs[name].(map[string]any)
			return d
		}
		return s
	}
	var check func(path string, typ reflect.Type, s map[string]any)
	check = func(path string, typ reflect.Type, s map[string]any) {
		s = resolve(s)
		if s == nil {
			t.Errorf("%s: no schema", path)
			return
		}
		switch typ.Kind() {
		case reflect.Slice:
			items, _ := s["items"].(map[string]any)
			if typ.Elem().Kind() == reflect.Struct {
				check(path+"[]", typ.Elem(), items)
			}
			return
		case reflect.Struct:
			if typ == reflect.TypeFor[time.Time]() {
				return
			}
		default:
			return
		}
		props, _ := s["properties"].(map[string]any)
		var names, required []string
		for f := range typ.Fields() {
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" || name == "-" {
				t.Errorf("%s.%s: no json name", path, f.Name)
				continue
			}
			names = append(names, name)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
			sub, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s: schema lacks property %q", path, name)
				continue
			}
			check(path+"."+name, f.Type, sub)
		}
		var schemaNames []string
		for k := range props {
			schemaNames = append(schemaNames, k)
		}
		var schemaRequired []string
		if rs, ok := s["required"].([]any); ok {
			for _, r := range rs {
				schemaRequired = append(schemaRequired, r.(string))
			}
		}
		for _, l := range [][]string{names, schemaNames, required, schemaRequired} {
			sort.Strings(l)
		}
		if !slices.Equal(names, schemaNames) {
			t.Errorf("%s: struct fields %v, schema properties %v", path, names, schemaNames)
		}
		if !slices.Equal(required, schemaRequired) {
			t.Errorf("%s: required (no omitempty) %v, schema required %v", path, required, schemaRequired)
		}
	}
	check("report", reflect.TypeFor[Report](), root)

	// The enums match the constants.
	props := root["properties"].(map[string]any)
	suiteStatus := props["suites"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["status"].(map[string]any)["enum"]
	wantStatus := []any{StatusPassed, StatusFailed, StatusError, StatusSkipped, StatusInterrupted, StatusTimedOut}
	if !reflect.DeepEqual(suiteStatus, wantStatus) {
		t.Errorf("suites[].status enum %v, want %v", suiteStatus, wantStatus)
	}
	ops := props["gates"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["op"].(map[string]any)["enum"]
	var wantOps []any
	for _, op := range Ops {
		wantOps = append(wantOps, op)
	}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("gates[].op enum %v, want %v", ops, wantOps)
	}
	if c := props["schema_version"].(map[string]any)["const"]; c != SchemaVersion {
		t.Errorf("schema_version const %v, want %q", c, SchemaVersion)
	}
	codes := props["exit_code"].(map[string]any)["enum"]
	wantCodes := []any{float64(errs.OK), float64(errs.GateFailed), float64(errs.Invalid), float64(errs.SuiteFailed), float64(errs.Interrupted)}
	if !reflect.DeepEqual(codes, wantCodes) {
		t.Errorf("exit_code enum %v, want %v", codes, wantCodes)
	}
}
