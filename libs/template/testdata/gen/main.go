// Command gen records what Go's text/template prints for each case in ../cases.json, with
// Docker's template functions, into ../golden.json. See ../README.md.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
)

// basicFunctions are docker/cli's templates.basicFunctions (templates/templates.go), verbatim.
var basicFunctions = template.FuncMap{
	"json": func(v interface{}) string {
		buf := &bytes.Buffer{}
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(v)
		if err != nil {
			panic(err)
		}

		// Remove the trailing new line added by the encoder
		return strings.TrimSpace(buf.String())
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    strings.Title, //nolint:staticcheck
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      padWithSpace,
	"truncate": truncateWithLength,
}

// padWithSpace adds whitespace to the input if the input is non-empty
func padWithSpace(source string, prefix, suffix int) string {
	if source == "" {
		return source
	}
	return strings.Repeat(" ", prefix) + source + strings.Repeat(" ", suffix)
}

// truncateWithLength truncates the source string up to the length provided by the input
func truncateWithLength(source string, length int) string {
	if len(source) < length {
		return source
	}
	return source[:length]
}

type testCase struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data,omitempty"`
}

type cases struct {
	Data  json.RawMessage `json:"data"`
	Cases []testCase      `json:"cases"`
}

// golden is what ../golden.json holds: the default data and each case with Go's output or error.
type golden struct {
	Data  json.RawMessage `json:"data"`
	Cases []result        `json:"cases"`
}

type result struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data,omitempty"`
	Output   *string         `json:"output,omitempty"`
	Error    *string         `json:"error,omitempty"`
}

// decode decodes JSON as berth holds it, typed as Docker's structs type it: integers (no '.',
// 'e' or 'E') as int, other numbers as float64, lists of strings as []string (Cmd, Env,
// RepoTags), maps of strings as map[string]string (Labels), other objects as
// map[string]interface{} and other arrays as []interface{}.
func decode(raw []byte) interface{} {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	return convert(v)
}

func convert(v interface{}) interface{} {
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i)
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			panic(err)
		}
		return f
	case map[string]interface{}:
		strs := make(map[string]string, len(t))
		for k, e := range t {
			t[k] = convert(e)
			if s, ok := t[k].(string); ok {
				strs[k] = s
			}
		}
		if len(t) > 0 && len(strs) == len(t) {
			return strs
		}
		return t
	case []interface{}:
		strs := make([]string, 0, len(t))
		for i, e := range t {
			t[i] = convert(e)
			if s, ok := t[i].(string); ok {
				strs = append(strs, s)
			}
		}
		if len(t) > 0 && len(strs) == len(t) {
			return strs
		}
		return t
	default:
		return v
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen CASES.json GOLDEN.json")
		os.Exit(2)
	}
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var cs cases
	if err := json.Unmarshal(src, &cs); err != nil {
		panic(err)
	}
	var out []result
	seen := map[string]bool{}
	for _, c := range cs.Cases {
		if seen[c.Name] {
			panic("duplicate case name " + c.Name)
		}
		seen[c.Name] = true
		raw := c.Data
		if raw == nil {
			raw = cs.Data
		}
		r := result{Name: c.Name, Template: c.Template, Data: c.Data}
		tmpl, err := template.New("").Funcs(basicFunctions).Parse(c.Template)
		var buf bytes.Buffer
		if err == nil {
			err = tmpl.Execute(&buf, decode(raw))
		}
		if err != nil {
			msg := err.Error()
			r.Error = &msg
		} else {
			s := buf.String()
			r.Output = &s
		}
		out = append(out, r)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(golden{Data: cs.Data, Cases: out}); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], b.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
