// Package helm holds botwarden's Helm chart (botwarden/) and derives the
// `config` part of the chart's values schema from botwarden's own
// configuration types, so that a value botwarden would refuse to load is
// refused by `helm install` already and the schema follows every new field.
package helm

import (
	"encoding"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botwarden/botwarden/config"
)

// Schema is a JSON Schema (draft 2020-12) node.
type Schema = map[string]any

// durationPattern is what time.ParseDuration accepts ("1h30m", "0.5s", "0").
const durationPattern = `^(0|[0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h)([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))*)$`

// Enums are the fields whose Validate accepts only a fixed set of words,
// by YAML path. A test proves every listed word loads and a word outside
// the set does not, so the lists cannot drift from the Go validation.
var Enums = map[string][]string{
	"log.level":                 {"trace", "debug", "info", "warn", "error"},
	"log.format":                {"json", "console"},
	"detection.fallback_action": {"allow", "block"},
	"session.same_site":         {"lax", "strict", "none"},
}

// ConfigSchema returns the schema of botwarden.yaml: every section and field
// of config.Config by its YAML name, unknown fields rejected (as the loader's
// KnownFields does), types from the Go fields.
func ConfigSchema() Schema {
	return schemaOf(reflect.TypeOf(config.Config{}), "")
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func schemaOf(t reflect.Type, path string) Schema {
	if words, ok := Enums[path]; ok {
		return Schema{"type": "string", "enum": words}
	}
	if t == durationType {
		return Schema{"type": "string", "pattern": durationPattern}
	}
	// A type that decodes itself accepts what its decoder accepts; only a
	// string kind is known to need a string.
	if custom(t) {
		if t.Kind() == reflect.String {
			return Schema{"type": "string"}
		}
		return Schema{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(t.Elem(), path)
		return Schema{"anyOf": []any{s, Schema{"type": "null"}}}
	case reflect.Struct:
		props := Schema{}
		addFields(t, path, props)
		return Schema{"type": "object", "properties": props, "additionalProperties": false}
	case reflect.Slice, reflect.Array:
		return Schema{"type": []any{"array", "null"}, "items": schemaOf(t.Elem(), path+"[]")}
	case reflect.Map:
		return Schema{"type": []any{"object", "null"}, "additionalProperties": schemaOf(t.Elem(), path+"{}")}
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Schema{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	}
	return Schema{}
}

func custom(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(yamlUnmarshaler) || pt.Implements(yamlUnmarshaler) ||
		t.Implements(textUnmarshaler) || pt.Implements(textUnmarshaler)
}

// addFields adds t's YAML fields to props, flattening `,inline` structs.
func addFields(t reflect.Type, path string, props Schema) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			addFields(f.Type, path, props)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		props[name] = schemaOf(f.Type, p)
	}
}
