package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of the report JSON, the
// file reports/schema/report.schema.json.
//
//go:embed schema/report.schema.json
var SchemaJSON []byte

// schemaURL is the $id of the embedded schema.
const schemaURL = "https://github.com/gauntlet-ml/gauntlet/reports/schema/report.schema.json"

// compiledSchema compiles the embedded schema once.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("report schema: %w", err)
	}
	return sch, nil
})

// ValidateJSON validates a report JSON document against the embedded
// schema. The error, with exit code errs.Invalid, names the offending
// location (a JSON pointer such as /suites/0/status) and what was wrong.
func ValidateJSON(b []byte) error {
	sch, err := compiledSchema()
	if err != nil {
		return err // a broken embedded schema is a bug, not bad input
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return errs.Invalidf("report json: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return errs.Invalidf("report json does not match schema: %w", err)
	}
	return nil
}
