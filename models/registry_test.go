package models_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/iobench/iobench/models"
)

// fakeEngine is a registry test double; it is never run.
type fakeEngine struct{ models.Engine }

// The registry is process-wide and has no Unregister: the test backends are registered once
// per process, so the test also passes with -count=N.
var (
	registerOnce sync.Once
	gotCfg       models.Config
)

func registerTestBackends() {
	registerOnce.Do(func() {
		unsupported := models.Unsupported("zz_reg_missing", "needs a kernel we lack")
		models.Register(models.Backend{Name: "zz_reg_ok", Summary: "test", Available: func() error { return nil },
			New: func(c models.Config) (models.Engine, error) { gotCfg = c; return fakeEngine{}, nil }})
		models.Register(models.Backend{Name: "zz_reg_missing", Summary: "test", Available: func() error { return unsupported },
			New: func(models.Config) (models.Engine, error) { return nil, unsupported }})
	})
}

func TestRegistry(t *testing.T) {
	registerTestBackends()

	t.Run("lookup", func(t *testing.T) {
		b, err := models.Lookup("zz_reg_ok")
		if err != nil || b.Name != "zz_reg_ok" {
			t.Errorf("Lookup = %+v, %v", b, err)
		}
		if _, err := models.Lookup("zz_nobody"); !errors.Is(err, models.ErrUnknownBackend) {
			t.Errorf("Lookup unknown = %v, want ErrUnknownBackend", err)
		}
	})
	t.Run("names sorted and available filtered", func(t *testing.T) {
		names := models.Names()
		if !slices.IsSorted(names) || !slices.Contains(names, "zz_reg_ok") || !slices.Contains(names, "zz_reg_missing") {
			t.Errorf("Names() = %v", names)
		}
		avail := models.Available()
		if !slices.Contains(avail, "zz_reg_ok") || slices.Contains(avail, "zz_reg_missing") {
			t.Errorf("Available() = %v", avail)
		}
		bs := models.Backends()
		if len(bs) != len(names) {
			t.Errorf("Backends() has %d entries, Names() %d", len(bs), len(names))
		}
	})
	t.Run("open", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			backend string
			want    error
		}{
			{"available", "zz_reg_ok", nil},
			{"unsupported says why", "zz_reg_missing", models.ErrUnsupported},
			{"unknown", "zz_nobody", models.ErrUnknownBackend},
		} {
			t.Run(tc.name, func(t *testing.T) {
				eng, err := models.Open(tc.backend, models.Config{Loops: 3})
				if tc.want == nil {
					if err != nil || eng == nil || gotCfg.Loops != 3 {
						t.Errorf("Open = %v, %v (cfg %+v)", eng, err, gotCfg)
					}
					return
				}
				if !errors.Is(err, tc.want) || eng != nil {
					t.Errorf("Open = %v, %v; want nil, %v", eng, err, tc.want)
				}
			})
		}
		var ue *models.UnsupportedError
		if _, err := models.Open("zz_reg_missing", models.Config{}); !errors.As(err, &ue) || ue.Reason != "needs a kernel we lack" {
			t.Errorf("unsupported error does not carry its reason: %v", err)
		}
	})
	t.Run("register panics", func(t *testing.T) {
		ok := func() error { return nil }
		newFn := func(models.Config) (models.Engine, error) { return nil, nil }
		for _, tc := range []struct {
			name string
			b    models.Backend
		}{
			{"duplicate", models.Backend{Name: "zz_reg_ok", Available: ok, New: newFn}},
			{"no name", models.Backend{Available: ok, New: newFn}},
			{"no New", models.Backend{Name: "zz_reg_x", Available: ok}},
			{"no Available (never a nil stub)", models.Backend{Name: "zz_reg_y", New: newFn}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer func() {
					if recover() == nil {
						t.Error("no panic")
					}
				}()
				models.Register(tc.b)
			})
		}
	})
}
