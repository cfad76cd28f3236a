package winsock

import (
	"errors"
	"testing"
)

func TestJobQueue(t *testing.T) {
	var q JobQueue
	var ran []int
	errClosed := errors.New("closed")
	errWake := errors.New("PostQueuedCompletionStatus failed")
	ok := func() error { return nil }
	for i := range 3 {
		if err := q.Post(func() { ran = append(ran, i) }, ok, errClosed); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Post(func() { ran = append(ran, 99) }, func() error { return errWake }, errClosed); err != errWake {
		t.Fatalf("Post with a failing wake = %v, want its error", err)
	}
	if !q.RunOne() {
		t.Fatal("RunOne found nothing")
	}
	q.Close()
	if err := q.Post(func() { ran = append(ran, 100) }, ok, errClosed); err != errClosed {
		t.Fatalf("Post after Close = %v, want the closed error", err)
	}
	q.Drain()
	if q.RunOne() {
		t.Error("RunOne after Drain found a job")
	}
	if len(ran) != 3 || ran[0] != 0 || ran[1] != 1 || ran[2] != 2 {
		t.Errorf("ran %v, want [0 1 2] (the job whose wake failed, and the one after Close, never run)", ran)
	}
}
