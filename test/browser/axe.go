package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored from the npm registry by
// scripts/vendor-axe.sh (MPL-2.0; its licence is beside it).
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// Violation is one rule of axe-core that a page breaks, with the elements
// that break it.
type Violation struct {
	ID          string // the rule, such as "color-contrast"
	Impact      string // "minor", "moderate", "serious" or "critical"
	Help        string
	HelpURL     string
	Description string
	Nodes       []ViolationNode
}

// ViolationNode is an element that breaks a rule.
type ViolationNode struct {
	Target  []string // CSS selectors that reach it
	HTML    string
	Summary string // axe's failureSummary: what to fix
}

// Serious reports whether the violation is serious or critical, the
// impacts the console's tests do not accept.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

// String prints the violation with each of its elements, for a test's
// failure message.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s\n  %s", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n  - %s\n    %s\n    %s", strings.Join(n.Target, " "), n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n    "))
	}
	return b.String()
}

// Axe runs axe-core on the page the chromedp context shows and returns
// the rules it breaks. The script goes in through the DevTools protocol
// (Runtime.evaluate), which a page's Content-Security-Policy does not
// govern, so it runs on pages that allow no script at all, like the
// console's; it is injected again on each call, since a navigation
// forgets it.
func Axe(ctx context.Context) ([]Violation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axeSource+"\n;undefined")); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	// Only violations are asked for: passes and incomplete results would
	// make the answer many times larger for nothing a test reads.
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, description: v.description,
		nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary || ""})),
	})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	var vs []struct {
		ID, Impact, Help, HelpURL, Description string
		Nodes                                  []struct {
			Target  []string
			HTML    string
			Summary string
		}
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		return nil, fmt.Errorf("read axe-core's answer: %w", err)
	}
	out := make([]Violation, 0, len(vs))
	for _, v := range vs {
		w := Violation{ID: v.ID, Impact: v.Impact, Help: v.Help, HelpURL: v.HelpURL, Description: v.Description}
		for _, n := range v.Nodes {
			w.Nodes = append(w.Nodes, ViolationNode{Target: n.Target, HTML: n.HTML, Summary: n.Summary})
		}
		out = append(out, w)
	}
	return out, nil
}
