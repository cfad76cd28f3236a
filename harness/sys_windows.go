package harness

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows APIs x/sys/windows does not wrap. SetProcessAffinityMask:
// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-setprocessaffinitymask
// GetProcessAffinityMask:
// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-getprocessaffinitymask
var (
	modkernel32                = windows.NewLazySystemDLL("kernel32.dll")
	procSetProcessAffinityMask = modkernel32.NewProc("SetProcessAffinityMask")
	procGetProcessAffinityMask = modkernel32.NewProc("GetProcessAffinityMask")
)

func setProcessAffinityMask(h windows.Handle, mask uintptr) error {
	r, _, err := procSetProcessAffinityMask.Call(uintptr(h), mask)
	if r == 0 {
		return err
	}
	return nil
}

func getProcessAffinityMask(h windows.Handle) (proc, sys uintptr, err error) {
	r, _, e := procGetProcessAffinityMask.Call(uintptr(h), uintptr(unsafe.Pointer(&proc)), uintptr(unsafe.Pointer(&sys)))
	if r == 0 {
		return 0, 0, e
	}
	return proc, sys, nil
}
