package rollback

import (
	"fmt"
	"io"
	"strings"
)

// PlanFormats are the output formats of a plan.
var PlanFormats = []string{"text", "markdown"}

// WriteText prints the plan for a terminal: numbered steps, explanations
// wrapped, commands indented as blocks (no prompt, so they paste as they are).
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	title := "Rollback plan for " + p.Source
	fmt.Fprintf(&b, "%s\n%s\n\n", title, strings.Repeat("=", len([]rune(title))))
	fmt.Fprintf(&b, "From: %s\n", p.From)
	fmt.Fprintf(&b, "To:   %s\n", p.To)
	for _, f := range p.Facts {
		fmt.Fprintf(&b, "%s\n", f)
	}
	if len(p.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range p.Notes {
			b.WriteString(wrap(n, "  - ", "    ", 78))
		}
	}
	for i, s := range p.Steps {
		head := fmt.Sprintf("%d. %s", i+1, s.Title)
		fmt.Fprintf(&b, "\n%s\n%s\n\n", head, strings.Repeat("-", len([]rune(head))))
		b.WriteString(wrap(s.Why, "", "", 78))
		if len(s.Run) > 0 {
			b.WriteString("\nRun:\n\n")
			b.WriteString(codeBlock(s.Run, "    "))
		}
		if len(s.Verify) > 0 {
			b.WriteString("\nVerify:\n\n")
			b.WriteString(codeBlock(s.Verify, "    "))
		}
		if s.Expect != "" {
			b.WriteString("\n" + wrap("Expect: "+s.Expect, "", "", 78))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown prints the plan for a runbook: a heading per step, commands
// in ```sh blocks.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Rollback plan for %s\n\n", mdCode(p.Source))
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| From | %s |\n", mdCell(p.From))
	fmt.Fprintf(&b, "| To | %s |\n", mdCell(p.To))
	for _, f := range p.Facts {
		k, v, ok := strings.Cut(f, ": ")
		if !ok {
			k, v = f, ""
		}
		fmt.Fprintf(&b, "| %s | %s |\n", mdCell(k), mdCell(v))
	}
	if len(p.Notes) > 0 {
		b.WriteString("\n**Notes**\n\n")
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "\n## %d. %s\n\n%s\n", i+1, s.Title, s.Why)
		if len(s.Run) > 0 {
			b.WriteString("\n```sh\n" + strings.Join(s.Run, "\n") + "\n```\n")
		}
		if len(s.Verify) > 0 {
			b.WriteString("\n**Verify**\n\n```sh\n" + strings.Join(s.Verify, "\n") + "\n```\n")
		}
		if s.Expect != "" {
			fmt.Fprintf(&b, "\nExpect: %s\n", s.Expect)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCode(s string) string { return "`" + strings.ReplaceAll(s, "`", "'") + "`" }

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func codeBlock(lines []string, indent string) string {
	var b strings.Builder
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			b.WriteString(indent + part + "\n")
		}
	}
	return b.String()
}

// wrap fills text to width, the first line after first, the others after rest.
func wrap(text, first, rest string, width int) string {
	var b strings.Builder
	line := first
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && len([]rune(line))+1+len([]rune(word)) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if empty {
			line += word
			empty = false
		} else {
			line += " " + word
		}
	}
	b.WriteString(line + "\n")
	return b.String()
}
