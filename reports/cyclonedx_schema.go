package reports

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// cyclonedxSchemas holds the official CycloneDX 1.6 JSON schema and the
// SPDX and JSF schemas it references, unchanged from
// github.com/CycloneDX/specification (Apache-2.0; see
// schema/cyclonedx/README.md).
//
//go:embed schema/cyclonedx/bom-1.6.schema.json schema/cyclonedx/spdx.schema.json schema/cyclonedx/jsf-0.82.schema.json
var cyclonedxSchemas embed.FS

// cyclonedxSchemaBase is the folder URL the schemas' $id values share.
const cyclonedxSchemaBase = "http://cyclonedx.org/schema/"

// compiledCycloneDX compiles the embedded schemas once, asserting formats
// (date-time, iri-reference, …) as well as structure.
var compiledCycloneDX = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"} {
		b, err := cyclonedxSchemas.ReadFile("schema/cyclonedx/" + f)
		if err != nil {
			return nil, fmt.Errorf("cyclonedx schema %s: %w", f, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("cyclonedx schema %s: %w", f, err)
		}
		if err := c.AddResource(cyclonedxSchemaBase+f, doc); err != nil {
			return nil, fmt.Errorf("cyclonedx schema %s: %w", f, err)
		}
	}
	return c.Compile(cyclonedxSchemaBase + "bom-1.6.schema.json")
})

// ValidateCycloneDX validates a CycloneDX JSON document against the
// embedded official CycloneDX 1.6 schema.
func ValidateCycloneDX(b []byte) error {
	sch, err := compiledCycloneDX()
	if err != nil {
		return err // a broken embedded schema is a bug, not bad input
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("cyclonedx: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return fmt.Errorf("cyclonedx does not match the CycloneDX 1.6 schema: %w", err)
	}
	return nil
}
