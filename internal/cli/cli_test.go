package cli

import (
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	base := errors.New("x")
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", base, ExitFailure},
		{"usage", Usage(base), ExitUsage},
		{"failure", Failure(base), ExitFailure},
		{"interrupted", Interrupted(base), ExitInterrupted},
		{"wrapped interrupted", fmt.Errorf("run: %w", Interrupted(base)), ExitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.want {
				t.Fatalf("Code = %d, want %d", got, tc.want)
			}
		})
	}
	if Interrupted(nil) != nil || Usage(nil) != nil || Failure(nil) != nil {
		t.Fatal("wrapping nil must stay nil")
	}
	if SignalCode(2) != 130 || SignalCode(15) != 143 {
		t.Fatalf("SignalCode(2) = %d, SignalCode(15) = %d", SignalCode(2), SignalCode(15))
	}
}
