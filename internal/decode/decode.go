package decode

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
)

// UnsignedHook is a mapstructure decode hook that refuses a negative number
// (an integer, a float or a numeric string) for an unsigned field. Without
// it, weakly typed decoding turns -1 into 2^64-1.
func UnsignedHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	neg := false
	switch v := reflect.ValueOf(data); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		neg = v.Int() < 0
	case reflect.Float32, reflect.Float64:
		neg = v.Float() < 0
	case reflect.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.String()), 64)
		neg = err == nil && f < 0
	}
	if neg {
		return nil, fmt.Errorf("%v is negative, want an integer ≥ 0", data)
	}
	return data, nil
}

// Error rewrites an error of mapstructure's Decode into one line per
// problem, each beginning with the problem's full key: prefix joined with
// the field's path ("runtime.batch_size: want an integer, got \"big\"",
// "suites.evasion.attacks[0]: unknown key(s): epz"). The lines are sorted,
// so the message does not depend on map order. Errors that are not
// mapstructure's come back as "prefix: err".
func Error(prefix string, err error) error {
	var lines []string
	collect(prefix, err, &lines)
	if len(lines) == 0 {
		if prefix == "" {
			return err
		}
		return fmt.Errorf("%s: %w", prefix, err)
	}
	sort.Strings(lines)
	return errors.New(strings.Join(lines, "\n"))
}

func collect(prefix string, err error, lines *[]string) {
	if err == nil {
		return
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		*lines = append(*lines, join(prefix, de.Name())+": "+describe(de.Unwrap()))
		return
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			collect(prefix, e, lines)
		}
		return
	}
	if inner := errors.Unwrap(err); inner != nil {
		collect(prefix, inner, lines)
		return
	}
	*lines = append(*lines, join(prefix, "")+": "+err.Error())
}

// join writes the full key of a field: prefix.name, or either alone.
func join(prefix, name string) string {
	switch {
	case prefix == "":
		return name
	case name == "":
		return prefix
	case strings.HasPrefix(name, "["):
		return prefix + name
	}
	return prefix + "." + name
}

// describe words the cause of one decoding problem.
func describe(err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return "want " + want(pe.Expected.Type()) + ", got " + value(pe.Value)
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return "want " + want(ue.Expected.Type()) + ", got " + value(ue.Value)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
		return "unknown key(s): " + rest
	}
	return msg
}

// want names the kind of value a field of type t takes.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer ≥ 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map of keys"
	case reflect.Ptr:
		return want(t.Elem())
	}
	return t.String()
}

// value writes a value as the user typed it: strings quoted, lists and
// maps by their kind.
func value(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "nothing"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a map"
	}
	return fmt.Sprint(v)
}
