package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envPrefix starts the environment variable of every daemon flag.
const envPrefix = "DAGFLOW_"

// envName is the environment variable of a flag: DAGFLOW_ and the flag
// name in upper case with '-' as '_' (--log-level: DAGFLOW_LOG_LEVEL).
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// notLayered are flags that come from the command line only.
var notLayered = []string{"help", "config"}

// configValue is one key of a config file.
type configValue struct {
	value string
	line  int
}

// loadConfig reads a YAML config file: a mapping of flag names to scalar
// values.
func loadConfig(path string) (map[string]configValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]configValue{}, nil
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a mapping of flag names to values", path, m.Line)
	}
	out := map[string]configValue{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("config %s:%d: keys are flag names", path, k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("config %s:%d: key %q given twice", path, k.Line, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("config %s:%d: key %q: want a single value", path, v.Line, k.Value)
		}
		out[k.Value] = configValue{value: v.Value, line: v.Line}
	}
	return out, nil
}

// applyLayers fills the flags of fs not given on the command line, first
// from the environment (envName), then from the config file at path ("":
// none). cmd names the command in errors. Errors are usage errors. The
// map says where the flags set here came from ("$DAGFLOW_X" or
// "FILE:LINE").
func applyLayers(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), path, cmd string) (map[string]string, error) {
	var cfg map[string]configValue
	if path == "" {
		if v, ok := lookupEnv(envName("config")); ok {
			path = v
		}
	}
	if path != "" {
		var err error
		if cfg, err = loadConfig(path); err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		keys := make([]string, 0, len(cfg))
		for k := range cfg {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if fs.Lookup(k) == nil || slices.Contains(notLayered, k) {
				return nil, usageErrorf("config %s:%d: unknown key %q (the keys are the flag names of %s)", path, cfg[k].line, k, cmd)
			}
		}
	}
	var err error
	from := map[string]string{}
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || slices.Contains(notLayered, f.Name) {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok && v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageErrorf("$%s=%q: %v", envName(f.Name), v, serr)
			}
			from[f.Name] = "$" + envName(f.Name)
			return
		}
		if cv, ok := cfg[f.Name]; ok {
			if serr := fs.Set(f.Name, cv.value); serr != nil {
				err = usageErrorf("config %s:%d: %s: %q: %v", path, cv.line, f.Name, cv.value, serr)
			}
			from[f.Name] = fmt.Sprintf("%s:%d", path, cv.line)
		}
	})
	return from, err
}
