// Package epoll is the epoll backend (in progress).
package epoll
