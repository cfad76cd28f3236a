// Package uring is the uring backend (in progress).
package uring
