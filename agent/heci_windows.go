//go:build windows

package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// x/sys/windows has the SetupDi device-information calls but not the two
// device-interface ones the HECI driver is found with.
var (
	modSetupAPI                          = windows.NewLazySystemDLL("setupapi.dll")
	procSetupDiEnumDeviceInterfaces      = modSetupAPI.NewProc("SetupDiEnumDeviceInterfaces")
	procSetupDiGetDeviceInterfaceDetailW = modSetupAPI.NewProc("SetupDiGetDeviceInterfaceDetailW")
)

// spDeviceInterfaceData is SP_DEVICE_INTERFACE_DATA.
type spDeviceInterfaceData struct {
	cbSize             uint32
	interfaceClassGUID windows.GUID
	flags              uint32
	reserved           uintptr
}

// windowsGUID is g as the GUID struct whose memory layout meiGUID is.
func windowsGUID(g meiGUID) windows.GUID {
	w := windows.GUID{
		Data1: binary.LittleEndian.Uint32(g[0:]),
		Data2: binary.LittleEndian.Uint16(g[4:]),
		Data3: binary.LittleEndian.Uint16(g[6:]),
	}
	copy(w.Data4[:], g[8:])
	return w
}

// heciDevicePath finds the first present HECI device interface.
func heciDevicePath() (string, error) {
	class := windowsGUID(heciInterfaceGUID)
	set, err := windows.SetupDiGetClassDevsEx(&class, "", 0, windows.DIGCF_PRESENT|windows.DIGCF_DEVICEINTERFACE, 0, "")
	if err != nil {
		return "", fmt.Errorf("list HECI devices (SetupDiGetClassDevs %s): %w", heciInterfaceGUIDString, err)
	}
	defer set.Close()
	data := spDeviceInterfaceData{}
	data.cbSize = uint32(unsafe.Sizeof(data))
	r, _, e := syscall.SyscallN(procSetupDiEnumDeviceInterfaces.Addr(), uintptr(set), 0, uintptr(unsafe.Pointer(&class)), 0, uintptr(unsafe.Pointer(&data)))
	if r == 0 {
		if e == windows.ERROR_NO_MORE_ITEMS {
			return "", fmt.Errorf("no HECI device (interface class %s) is present: install the Intel Management Engine Interface driver (Windows Update or the PC vendor's package) and enable the ME and AMT in the BIOS", heciInterfaceGUIDString)
		}
		return "", fmt.Errorf("SetupDiEnumDeviceInterfaces %s: %w", heciInterfaceGUIDString, e)
	}
	// The first call only says how large the detail is.
	var size uint32
	syscall.SyscallN(procSetupDiGetDeviceInterfaceDetailW.Addr(), uintptr(set), uintptr(unsafe.Pointer(&data)), 0, 0, uintptr(unsafe.Pointer(&size)), 0)
	if size < 8 {
		return "", fmt.Errorf("SetupDiGetDeviceInterfaceDetail %s: the driver reports a detail of %d bytes", heciInterfaceGUIDString, size)
	}
	// SP_DEVICE_INTERFACE_DETAIL_DATA_W: a DWORD cbSize, then the path. Its
	// declared size is 8 on 64-bit Windows and 6 on 32-bit (packed).
	buf := make([]uint16, size/2+1)
	cb := uint32(6)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		cb = 8
	}
	*(*uint32)(unsafe.Pointer(&buf[0])) = cb
	r, _, e = syscall.SyscallN(procSetupDiGetDeviceInterfaceDetailW.Addr(), uintptr(set), uintptr(unsafe.Pointer(&data)), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), 0, 0)
	if r == 0 {
		return "", fmt.Errorf("SetupDiGetDeviceInterfaceDetail %s: %w", heciInterfaceGUIDString, e)
	}
	return windows.UTF16ToString(buf[2:]), nil
}

// winHECI is an open HECI device handle, every operation overlapped and
// bounded by a wait.
type winHECI struct{ h windows.Handle }

var _ heciHandle = (*winHECI)(nil)

func openHECIHandle(path string) (*winHECI, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, fmt.Errorf("open HECI device %s: %w: run the agent as an administrator, or install it as a service (amtrcs agent install)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open HECI device %s: %w: install the Intel Management Engine Interface driver and enable AMT in the BIOS", path, err)
	}
	return &winHECI{h: h}, nil
}

var errHECIWait = errors.New("the HECI driver did not complete the operation in time")

// overlapped starts one operation and waits up to d for it. On a timeout
// it cancels the operation and waits for the cancel, so that the driver
// never writes into a buffer after the call returned.
func (w *winHECI) overlapped(d time.Duration, timeout error, start func(o *windows.Overlapped, done *uint32) error) (int, error) {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return 0, fmt.Errorf("CreateEvent: %w", err)
	}
	defer windows.CloseHandle(ev)
	o := &windows.Overlapped{HEvent: ev}
	done := new(uint32)
	if err := start(o, done); err != nil && !errors.Is(err, windows.ERROR_IO_PENDING) {
		return 0, err
	}
	ms := uint32(max(d/time.Millisecond, 1))
	got, werr := windows.WaitForSingleObject(ev, ms)
	if got != windows.WAIT_OBJECT_0 {
		_ = windows.CancelIoEx(w.h, o)
		_ = windows.GetOverlappedResult(w.h, o, done, true)
		runtime.KeepAlive(o)
		if got == uint32(windows.WAIT_TIMEOUT) {
			return 0, timeout
		}
		if werr == nil {
			werr = fmt.Errorf("WaitForSingleObject returned %#x", got)
		}
		return 0, werr
	}
	if err := windows.GetOverlappedResult(w.h, o, done, true); err != nil {
		return 0, err
	}
	return int(*done), nil
}

func bufPtr(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

func (w *winHECI) Ioctl(code uint32, in, out []byte, d time.Duration) (int, error) {
	n, err := w.overlapped(d, errHECIWait, func(o *windows.Overlapped, done *uint32) error {
		return windows.DeviceIoControl(w.h, code, bufPtr(in), uint32(len(in)), bufPtr(out), uint32(len(out)), done, o)
	})
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	return n, err
}

func (w *winHECI) Write(p []byte, d time.Duration) (int, error) {
	n, err := w.overlapped(d, errHECIWait, func(o *windows.Overlapped, done *uint32) error {
		return windows.WriteFile(w.h, p, done, o)
	})
	runtime.KeepAlive(p)
	return n, err
}

func (w *winHECI) ReadTimeout(p []byte, d time.Duration) (int, error) {
	n, err := w.overlapped(d, errMEITimeout, func(o *windows.Overlapped, done *uint32) error {
		return windows.ReadFile(w.h, p, done, o)
	})
	runtime.KeepAlive(p)
	return n, err
}

func (w *winHECI) Close() error { return windows.CloseHandle(w.h) }
