//go:build linux

package agent

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type linuxMEI struct{ fd int }

func openMEI(path string, client meiGUID) (meiFile, meiClientProperties, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, meiClientProperties{}, fmt.Errorf("open %s: %w: load the mei_me kernel module, enable AMT in the BIOS, and run the agent as root", path, err)
	}
	data := meiConnectRequest(client)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlMEIConnectClient, uintptr(unsafe.Pointer(&data[0]))); errno != 0 {
		unix.Close(fd)
		return nil, meiClientProperties{}, fmt.Errorf("connect to the AMT host interface on %s: %w: the firmware client is missing or busy; check that AMT is enabled in MEBx", path, errno)
	}
	props, err := parseMEIConnectReply(data)
	if err != nil {
		unix.Close(fd)
		return nil, props, err
	}
	return &linuxMEI{fd: fd}, props, nil
}

func (m *linuxMEI) Write(p []byte) (int, error) { return unix.Write(m.fd, p) }

func (m *linuxMEI) ReadTimeout(p []byte, d time.Duration) (int, error) {
	fds := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("poll", err)
		}
		if n == 0 {
			return 0, errMEITimeout
		}
		return unix.Read(m.fd, p)
	}
}

func (m *linuxMEI) Close() error { return unix.Close(m.fd) }
