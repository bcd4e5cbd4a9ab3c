// Parses PromQL expressions with Prometheus' own parser and prints, as JSON, what each one reads:
// for every vector selector its metric name and the labels it matches on, and every label an
// aggregation, a vector matching or label_replace/label_join names. Tests use it to prove that each
// alert and dashboard query parses and refers only to metrics and labels the operator exposes.
// Input: a JSON array of expressions on stdin. Output: one JSON object per expression.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type selector struct {
	Metric string   `json:"metric"`
	Labels []string `json:"labels"`
}

type result struct {
	Expr      string     `json:"expr"`
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors"`
	// Labels named outside selectors: by/without, on/ignoring/group_left/group_right.
	Grouping []string `json:"grouping"`
}

func analyse(p parser.Parser, expr string) result {
	out := result{Expr: expr, Selectors: []selector{}, Grouping: []string{}}
	ast, err := p.ParseExpr(expr)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	grouping := map[string]bool{}
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s := selector{Labels: []string{}}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					if m.Type == labels.MatchEqual {
						s.Metric = m.Value
					}
					continue
				}
				s.Labels = append(s.Labels, m.Name)
			}
			sort.Strings(s.Labels)
			out.Selectors = append(out.Selectors, s)
		case *parser.AggregateExpr:
			for _, g := range n.Grouping {
				grouping[g] = true
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				for _, g := range append(n.VectorMatching.MatchingLabels, n.VectorMatching.Include...) {
					grouping[g] = true
				}
			}
		}
		return nil
	})
	for g := range grouping {
		out.Grouping = append(out.Grouping, g)
	}
	sort.Strings(out.Grouping)
	return out
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintln(os.Stderr, "promql-selectors: stdin must be a JSON array of strings:", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, e := range exprs {
		results = append(results, analyse(p, e))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
