//go:build windows

package agent

import "fmt"

// openMEI opens the HECI device: the one SetupDi finds when path is the
// default (/dev/mei0, the flag's Linux default) or empty, else the device
// interface path given.
func openMEI(path string, client meiGUID) (meiFile, meiClientProperties, error) {
	dev := path
	if dev == "" || dev == "/dev/mei0" {
		p, err := heciDevicePath()
		if err != nil {
			return nil, meiClientProperties{}, err
		}
		dev = p
	}
	h, err := openHECIHandle(dev)
	if err != nil {
		return nil, meiClientProperties{}, err
	}
	f, _, props, err := connectHECI(h, client)
	if err != nil {
		h.Close()
		return nil, props, fmt.Errorf("%s: %w", dev, err)
	}
	return f, props, nil
}
