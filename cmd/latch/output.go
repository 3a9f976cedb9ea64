package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v4"
)

// output is how a command that prints data prints it: a table for people,
// or the API's own JSON (or the same as YAML) for programs. JSON keys come
// in the order the API sends them, and maps in sorted order, so two calls
// print the same bytes for the same data.
type output struct {
	format string
	asJSON bool
}

// outputFormats are the values of -o, in the order completion offers them.
var outputFormats = []string{"table", "json", "yaml"}

// bindOutput adds -o/--output and --json to cmd.
func bindOutput(cmd *cobra.Command, o *output) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table, json or yaml (JSON shaped as the API's answer)")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "the same as -o json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// check refuses an unknown format before the command does any work.
func (o *output) check() error {
	if o.asJSON {
		if o.format != "table" && o.format != "json" {
			return usageError{fmt.Errorf("--json and -o %s disagree: give one", o.format)}
		}
		o.format = "json"
	}
	switch o.format {
	case "table", "json", "yaml":
		return nil
	}
	return usageError{fmt.Errorf("-o %q: use table, json or yaml", o.format)}
}

// print writes v as JSON or YAML, or calls table for the table.
func (o *output) print(w io.Writer, v any, table func(io.Writer) error) error {
	switch o.format {
	case "json":
		return printJSON(w, v)
	case "yaml":
		return printYAML(w, v)
	}
	return table(w)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printYAML writes v as YAML with the same keys, in the same order, as its
// JSON: v is encoded as JSON first and that document re-read as YAML.
func printYAML(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	ye := yaml.NewEncoder(w)
	ye.SetIndent(2)
	if err := ye.Encode(&doc); err != nil {
		return err
	}
	return ye.Close()
}

// blockStyle drops JSON's flow style ({...}, [...], "...") so the YAML reads
// as YAML; the encoder quotes a string wherever YAML would read it as
// something else.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// orEmpty makes a nil list an empty one, so JSON shows [] as the API does.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
