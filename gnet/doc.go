// Package gnet is the gnet backend (in progress).
package gnet
