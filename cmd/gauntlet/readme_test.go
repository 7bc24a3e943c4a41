package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestREADMEPackageMap checks that the README's package table names every
// package `go list ./...` prints, and no other, and that each has a doc.go.
func TestREADMEPackageMap(t *testing.T) {
	root := testutil.RepoRoot(t)
	cmd := exec.Command("go", "list", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var listed []string
	for _, p := range strings.Fields(string(out)) {
		listed = append(listed, strings.TrimPrefix(strings.TrimPrefix(p, "github.com/gauntlet-ml/gauntlet"), "/"))
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "| package | purpose |")
	if start < 0 {
		t.Fatal("README has no package table")
	}
	end := strings.Index(s[start:], "\n\n")
	var inTable []string
	cell := regexp.MustCompile("`([a-z0-9/]+)`")
	for _, row := range strings.Split(s[start:start+end], "\n")[2:] {
		first := strings.SplitN(strings.TrimPrefix(row, "|"), "|", 2)[0]
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			inTable = append(inTable, m[1])
		}
	}
	slices.Sort(listed)
	slices.Sort(inTable)
	if !slices.Equal(listed, inTable) {
		t.Errorf("README package table %v\ngo list ./...          %v", inTable, listed)
	}
	for _, p := range listed {
		if _, err := os.Stat(filepath.Join(root, p, "doc.go")); err != nil {
			t.Errorf("package %s has no doc.go", p)
		}
	}
}
