package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/rules"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the config file"}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

func newConfigCheckCmd() *cobra.Command {
	var o app.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the config and show what Steward will do with it",
		Long: `Validate config.yaml (and secrets.yaml beside it) and print the normalised
config with secrets masked, every rule with its provenance (rule, llm, hybrid),
its actions with irreversible/yolo markers, rules the safety gate disabled and
why, and every warning. --json prints the same as one JSON document.

When the config does not load, every error is shown together with the
warnings found in the same pass (a misspelt key is a warning, and often the
reason for an error).

Exit status: 0 when the config loads (even with disabled rules), 1 on errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, report, err := app.LoadConfig(o)
			out := cmd.OutOrStdout()
			if asJSON {
				if jerr := writeCheckJSON(out, cfg, report, err); jerr != nil {
					return jerr
				}
				if err != nil {
					return &exitError{code: 1, err: errors.New("")}
				}
				return nil
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return writeCheckText(out, cfg, report)
		},
	}
	cmd.Flags().StringVar(&o.ConfigPath, "config", "", "config file (default $STEWARD_CONFIG, else ./config.yaml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON document")
	return cmd
}

func writeCheckText(w io.Writer, cfg *config.Config, report *rules.Report) error {
	if cfg.Source != "" {
		fmt.Fprintf(w, "Config: %s\n", cfg.Source)
	}
	for _, n := range cfg.Notices {
		fmt.Fprintf(w, "Notice: %s\n", n)
	}
	fmt.Fprintln(w, "\n== Normalised config (secrets masked) ==")
	if err := cfg.Describe(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Rules ==")
	if err := rules.Describe(w, report); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nOK: config loads (%d warnings)\n", len(report.Warnings))
	return nil
}

// checkDocument is the --json output.
type checkDocument struct {
	OK       bool               `json:"ok"`
	Source   string             `json:"source,omitempty"`
	Errors   []string           `json:"errors"`
	Notices  []string           `json:"notices"`
	Warnings []string           `json:"warnings"`
	Rules    []rules.RuleReport `json:"rules"`
	Config   json.RawMessage    `json:"config,omitempty"`
	Report   *rules.Report      `json:"report,omitempty"`
}

func writeCheckJSON(w io.Writer, cfg *config.Config, report *rules.Report, loadErr error) error {
	doc := checkDocument{OK: loadErr == nil, Errors: []string{}, Notices: []string{}, Warnings: []string{}, Rules: []rules.RuleReport{}}
	if loadErr != nil {
		var list config.Errors
		if errors.As(loadErr, &list) {
			for _, e := range list {
				doc.Errors = append(doc.Errors, e.Error())
			}
		} else {
			doc.Errors = append(doc.Errors, loadErr.Error())
		}
		// A config that does not load still has its warnings and notices: a
		// warning is often the reason for an error (a misspelt key).
		var le *config.LoadError
		if errors.As(loadErr, &le) {
			for _, w := range le.Warnings {
				doc.Warnings = append(doc.Warnings, w.String())
			}
			doc.Notices = append(doc.Notices, le.Notices...)
		}
	}
	if cfg != nil {
		doc.Source = cfg.Source
		if cfg.Notices != nil {
			doc.Notices = cfg.Notices
		}
		// The normalised config as the text output shows it, with the
		// markers kept: "!secret <key>" for a masked value, {"!yolo": action}.
		tree, err := cfg.MaskedJSON()
		if err != nil {
			return err
		}
		doc.Config = tree
	}
	if report != nil {
		if report.Warnings != nil {
			doc.Warnings = report.Warnings
		}
		if report.Rules != nil {
			doc.Rules = report.Rules
		}
		doc.Errors = appendMissing(doc.Errors, report.Errors)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func appendMissing(dst, src []string) []string {
	seen := map[string]bool{}
	for _, s := range dst {
		seen[s] = true
	}
	for _, s := range src {
		if !seen[s] {
			dst = append(dst, s)
			seen[s] = true
		}
	}
	return dst
}
