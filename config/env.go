package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every override variable: BOTWARDEN_SERVER_GRPC_ADDR sets
// server.grpc_addr. Lists are comma-separated.
const EnvPrefix = "BOTWARDEN_"

// ApplyEnv sets fields from BOTWARDEN_* variables in env ("KEY=value"). An
// unknown BOTWARDEN_ variable is an error, so a misspelt override is noticed.
//
// Names derive from the yaml tags, so every field of every package's section
// gets its variable without a second tag; env libraries (caarlos0/env,
// kelseyhightower/envconfig) need their own tag on each field and do not
// reject unknown variables.
func ApplyEnv(cfg *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collect(reflect.ValueOf(cfg).Elem(), EnvPrefix, fields)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		f, ok := fields[k]
		if !ok {
			if ignoredEnv[k] {
				continue
			}
			if hint, gone := removedEnv(k); gone {
				return fmt.Errorf("%s: %s", k, hint)
			}
			return fmt.Errorf("%s: no such setting", k)
		}
		if err := set(f, v); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// ignoredEnv are BOTWARDEN_ variables that are not settings (read elsewhere).
var ignoredEnv = map[string]bool{"BOTWARDEN_CONFIG": true}

// removedEnv finds the variable of a removed key (see removedKeys).
func removedEnv(name string) (string, bool) {
	for key, hint := range removedKeys {
		if name == EnvPrefix+strings.ToUpper(strings.ReplaceAll(key, ".", "_")) {
			return hint, true
		}
	}
	return "", false
}

// EnvNames lists every override variable, for documentation.
func EnvNames() []string {
	fields := map[string]reflect.Value{}
	cfg := Default()
	collect(reflect.ValueOf(&cfg).Elem(), EnvPrefix, fields)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	return names
}

func collect(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
			collect(fv, name+"_", out)
			continue
		}
		out[name] = fv
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

func set(f reflect.Value, s string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetFloat(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			// A list of objects (session.keys) is written as YAML or JSON,
			// so that a Kubernetes Secret can carry it as one variable.
			return setYAML(f, s)
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		sl := reflect.MakeSlice(f.Type(), len(parts), len(parts))
		for i, p := range parts {
			sl.Index(i).SetString(p)
		}
		f.Set(sl)
	default:
		return fmt.Errorf("cannot set a %s from the environment", f.Type())
	}
	return nil
}

// setYAML decodes s (YAML, so JSON too) into f with unknown fields rejected.
func setYAML(f reflect.Value, s string) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	v := reflect.New(f.Type())
	if err := dec.Decode(v.Interface()); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("a list of %s as YAML or JSON: %w", f.Type().Elem(), err)
	}
	f.Set(v.Elem())
	return nil
}
