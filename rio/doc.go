// Package rio is the rio backend (in progress).
package rio
