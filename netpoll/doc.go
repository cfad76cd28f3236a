// Package netpoll is the netpoll backend (in progress).
package netpoll
