// Package iocp is the iocp backend (in progress).
package iocp
