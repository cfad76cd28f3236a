package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RunFileName is the default name of the run file in a results folder. Any other *.json file
// whose top level has a "schema_version" key is read as a run too (several runs can share a
// folder as <name>.json).
const RunFileName = "run.json"

// WriteRun validates run and writes it to dir/run.json (creating dir), atomically: a reader
// never sees half a file.
func WriteRun(dir string, run *Run) error { return WriteRunFile(filepath.Join(dir, RunFileName), run) }

// WriteRunFile validates run and writes it to path atomically (temp file + rename).
func WriteRunFile(path string, run *Run) error {
	if run.SchemaVersion == "" {
		run.SchemaVersion = SchemaVersion
	}
	if err := run.Validate(); err != nil {
		return fmt.Errorf("results: %s: %w", path, err)
	}
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %s: %w", path, err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".run-*.json.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// FileError is a problem with one input file; other files still load.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// ErrNoRuns is reported (as a *FileError naming the folder) for a folder holding no run file.
var ErrNoRuns = errors.New("no iobench run files (*.json with schema_version) in folder")

// LoadedRun is a run read from disk with where it came from (HDR log paths are relative to Dir).
type LoadedRun struct {
	Path string // the JSON file
	Dir  string // its folder
	Run  *Run
}

// ReadRunFile reads and validates one run file. Errors name the file and, for validation
// errors, the field.
func ReadRunFile(path string) (*Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{path, err}
	}
	return DecodeRun(path, data)
}

// DecodeRun decodes and validates a run file's content; name labels errors.
func DecodeRun(name string, data []byte) (*Run, error) {
	var head struct {
		SchemaVersion *string `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &FileError{name, fmt.Errorf("not valid JSON: %w%s", err, nanHint(data))}
	}
	if head.SchemaVersion == nil {
		return nil, &FileError{name, errors.New("no schema_version: not an iobench results file")}
	}
	if *head.SchemaVersion != SchemaVersion {
		return nil, &FileError{name, fmt.Errorf("unknown schema version %q (this iobench reads %q)",
			*head.SchemaVersion, SchemaVersion)}
	}
	var run Run
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		return nil, &FileError{name, err}
	}
	if err := run.Validate(); err != nil {
		return nil, &FileError{name, err}
	}
	return &run, nil
}

// nanHint explains the usual cause of a JSON syntax error in a results file: NaN/Infinity
// are not JSON, so a writer that produced them wrote an invalid file.
func nanHint(data []byte) string {
	for _, tok := range []string{"NaN", "Infinity"} {
		if bytes.Contains(data, []byte(tok)) {
			return " (the file contains " + tok + ", which is not a valid metric value: use null for n/a)"
		}
	}
	return ""
}

// ReadDir reads every run file of the folder dir (run.json and any other *.json carrying a
// schema_version; files without one, e.g. other tools' JSON, are ignored). Problems are
// returned per file in errs so one bad file does not stop the others; a folder with no run
// file yields one *FileError wrapping ErrNoRuns. Runs are ordered by file name.
func ReadDir(dir string) (runs []LoadedRun, errs []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{&FileError{dir, err}}
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	candidates := 0
	for _, n := range names {
		p := filepath.Join(dir, n)
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, &FileError{p, err})
			candidates++
			continue
		}
		if n != RunFileName && !looksLikeRun(data) {
			continue
		}
		candidates++
		run, err := DecodeRun(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		runs = append(runs, LoadedRun{Path: p, Dir: dir, Run: run})
	}
	if candidates == 0 {
		errs = append(errs, &FileError{dir, ErrNoRuns})
	}
	return runs, errs
}

// looksLikeRun: a top-level JSON object with a schema_version key (any value, so an unknown
// version is reported rather than skipped). Invalid JSON counts as a candidate so it is
// reported too, unless it is clearly something else.
func looksLikeRun(data []byte) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return bytes.Contains(data, []byte(`"schema_version"`))
	}
	_, ok := m["schema_version"]
	return ok
}

// ReadPath reads a run file or a results folder.
func ReadPath(path string) ([]LoadedRun, []error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, []error{&FileError{path, err}}
	}
	if st.IsDir() {
		return ReadDir(path)
	}
	run, err := ReadRunFile(path)
	if err != nil {
		return nil, []error{err}
	}
	return []LoadedRun{{Path: path, Dir: filepath.Dir(path), Run: run}}, nil
}

func joinRel(dir, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(dir, filepath.FromSlash(rel))
}
