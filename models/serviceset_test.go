package models_test

import (
	"errors"
	"testing"

	"github.com/iobench/iobench/models"
)

type fakeService struct {
	set    *models.ServiceSet[*fakeService]
	closed int
	err    error
}

func (f *fakeService) Close() error {
	f.closed++
	f.set.Remove(f) // a service's Close deregisters itself, as the backends' do
	return f.err
}

func TestServiceSet(t *testing.T) {
	var set models.ServiceSet[*fakeService]
	boom := errors.New("boom")
	a, b, c := &fakeService{set: &set}, &fakeService{set: &set, err: boom}, &fakeService{set: &set}
	for _, s := range []*fakeService{a, b, c} {
		if err := set.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	set.Remove(c) // closed on its own before the engine
	first, err := set.CloseAll()
	if !first || !errors.Is(err, boom) {
		t.Fatalf("CloseAll = %v, %v; want first and the service's error", first, err)
	}
	if a.closed != 1 || b.closed != 1 || c.closed != 0 {
		t.Fatalf("closed a=%d b=%d c=%d; want 1 1 0", a.closed, b.closed, c.closed)
	}
	if first, err := set.CloseAll(); first || err != nil {
		t.Fatalf("second CloseAll = %v, %v; want not first, nil", first, err)
	}
	if err := set.Add(&fakeService{set: &set}); !errors.Is(err, models.ErrClosed) {
		t.Fatalf("Add after CloseAll: %v, want ErrClosed", err)
	}
	if a.closed != 1 {
		t.Fatal("a service was closed twice")
	}
}
