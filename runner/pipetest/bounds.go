package pipetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on what a test file can make the runner hold in memory: test
// files come with changes under review, and one line (count: 100000000, an
// alias of an alias of ...) must not exhaust the machine that runs them.
const (
	// MaxExpected is the number of expected records of a case, counts
	// included.
	MaxExpected = 100_000
	// MaxNodes is the number of YAML nodes of a test file with every alias
	// expanded, as decoding expands them.
	MaxNodes = 1_000_000
	// MaxFileSize bounds a test file and the pipeline file it names.
	MaxFileSize = 16 << 20
)

// readBounded reads a regular file of at most MaxFileSize bytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, MaxFileSize>>20)
	}
	return b, nil
}

// boundNodes reports an error when root, with its aliases expanded, has
// more than MaxNodes nodes, at the alias (or the mapping or list) that
// takes it over.
func (d *specDecoder) boundNodes(root *yaml.Node) bool {
	memo := map[*yaml.Node]int{}
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if s, ok := memo[n]; ok {
			return s
		}
		s := 1
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			s += size(n.Alias)
		}
		for _, c := range n.Content {
			if s += size(c); s > MaxNodes {
				break
			}
		}
		s = min(s, MaxNodes+1) // no overflow, however deep the nesting
		memo[n] = s
		return s
	}
	if size(root) <= MaxNodes {
		return true
	}
	n := root
	for n.Kind != yaml.AliasNode {
		var big *yaml.Node
		for _, c := range n.Content {
			if size(c) > MaxNodes {
				big = c
				break
			}
		}
		if big == nil {
			break
		}
		n = big
	}
	d.errorf(n, "", "the file expands to more than %d YAML nodes (aliases count as often as they are used): write smaller cases", MaxNodes)
	return false
}

// checkPipelinePath makes sure the pipeline file a test names is inside
// the test file's folder (or below it, symbolic links resolved) and looks
// like a pipeline: a *.yaml or *.yml file whose YAML is a mapping with a
// pipeline: key. Errors never quote the file's content: a test file must
// not be a way to print other files.
func checkPipelinePath(testFile, pipeline string) error {
	root, err := filepath.EvalSymlinks(filepath.Dir(testFile))
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(pipeline)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no such file")
	}
	if err == nil {
		target, err = filepath.Abs(target)
	}
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is outside the test file's folder %s: name a pipeline file in it or below it", target, root)
	}
	if ext := filepath.Ext(target); ext != ".yaml" && ext != ".yml" {
		return fmt.Errorf("%s is not a pipeline file: want a *.yaml or *.yml file", pipeline)
	}
	src, err := readBounded(target)
	if err != nil {
		return err
	}
	if !looksLikePipeline(src) {
		return fmt.Errorf("%s is not a pipeline file: want YAML with a top-level pipeline: key (runner check %s says more)", pipeline, pipeline)
	}
	return nil
}

// looksLikePipeline reports whether src parses as a YAML mapping with a
// top-level pipeline key.
func looksLikePipeline(src []byte) bool {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&doc); err != nil || len(doc.Content) == 0 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "pipeline" {
			return true
		}
	}
	return false
}
