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
	// K32GetProcessMemoryInfo is psapi's GetProcessMemoryInfo exported by kernel32 (Windows 7+):
	// https://learn.microsoft.com/windows/win32/api/psapi/nf-psapi-getprocessmemoryinfo
	procK32GetProcessMemoryInfo = modkernel32.NewProc("K32GetProcessMemoryInfo")
)

// processMemoryCounters is PROCESS_MEMORY_COUNTERS:
// https://learn.microsoft.com/windows/win32/api/psapi/ns-psapi-process_memory_counters
type processMemoryCounters struct {
	CB                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
}

func getProcessMemoryInfo(h windows.Handle, c *processMemoryCounters) error {
	c.CB = uint32(unsafe.Sizeof(*c))
	r, _, err := procK32GetProcessMemoryInfo.Call(uintptr(h), uintptr(unsafe.Pointer(c)), uintptr(c.CB))
	if r == 0 {
		return err
	}
	return nil
}

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
